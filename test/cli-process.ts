import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/tickgate-dev.js', import.meta.url));
const children: ChildProcessWithoutNullStreams[] = [];

/** Runs `tickgate <args>` as a real child process, collecting its output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env } });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    child,
    exited: once(child, 'exit').then(([code]) => code as number),
    out: () => stdout,
    err: () => stderr,
    /** Resolves with the first match of `re` in stdout; rejects if the process exits first or on timeout. */
    async waitForOutput(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = stdout.match(re);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${stdout}${stderr}`);
        if (Date.now() > deadline) throw new Error(`no match for ${re} in: ${stdout}${stderr}`);
        await Promise.race([once(child.stdout, 'data'), once(child, 'exit'), new Promise((r) => setTimeout(r, deadline - Date.now()))]);
      }
    },
  };
}

/** Kills every process runCli started that is still running (call from afterEach). */
export function killCliProcesses(): void {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
}
