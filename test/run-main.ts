import { vi } from 'vitest';
import { main } from '../src/commands/main.ts';

/**
 * Runs `tickgate <args>` in this process, capturing stdout and stderr: for commands that finish
 * on their own (help, usage errors, config). Spawning the binary costs a second or more of tsx
 * start-up per run; test/cli.test.ts keeps the real-process checks (signals, exit codes, pipes).
 */
export async function runMain(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
