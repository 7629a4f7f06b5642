/**
 * `tickgate tail` and `tickgate serve` in a real terminal (tmux): the table keeps its header at
 * the top when there are more topics than lines, sizes print whole, Ctrl-C exits 0; on a
 * terminal the logs are human-readable without being asked.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway } from './helpers.ts';

const TMUX = ['/usr/bin/tmux', '/bin/tmux'].find((p) => existsSync(p));
const bin = fileURLToPath(new URL('../bin/tickgate-dev.js', import.meta.url));
if (!TMUX) {
  const bar = '!'.repeat(100);
  process.stderr.write(`\n${bar}\n!! SKIPPING terminal tests: tmux not found; install it with "apt-get install -y tmux"\n${bar}\n\n`);
}

const sessions: string[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) spawnSync(TMUX!, ['kill-session', '-t', s]);
});

function tmux(...args: string[]): string {
  const r = spawnSync(TMUX!, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Starts `command` in a detached tmux session of the given size; the pane stays after it exits. */
function terminal(command: string, width: number, height: number): { screen: () => string; keys: (k: string) => void } {
  const name = `tickgate-test-${process.pid}-${sessions.length}`;
  sessions.push(name);
  tmux('new-session', '-d', '-s', name, '-x', String(width), '-y', String(height), `${command}; echo "EXIT=$?"; sleep 60`);
  return { screen: () => tmux('capture-pane', '-p', '-t', name), keys: (k) => void tmux('send-keys', '-t', name, k) };
}

async function waitForScreen(screen: () => string, re: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = screen();
    if (re.test(s)) return s;
    if (Date.now() > deadline) throw new Error(`screen never matched ${re}:\n${s}`);
    await new Promise((r) => setTimeout(r, 100)); // polling a screen: there is no event to await
  }
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe.skipIf(!TMUX)('in a terminal (tmux)', { timeout: 60_000 }, () => {
  it('tail: the header stays on top of a long table, the rest is counted, sizes are whole; Ctrl-C exits 0', async () => {
    const g = await startGateway({ feeds: [{ adapter: 'sim-equity', options: { ticksPerSecond: 3000 } }] });
    try {
      const t = terminal(`${shellQuote(process.execPath)} ${shellQuote(bin)} tail 'equity.*.*' --url ${g.stream}`, 100, 15);
      const screen = await waitForScreen(t.screen, /more topics not shown/);
      const lines = screen.split('\n');
      expect(lines[0]).toBe(`connected to ${g.stream}`);
      expect(lines[2]).toMatch(/^TOPIC\s+BID\s+ASK\s+PRICE\s+SIZE\s+SEQ\s+UPDATES\s+LAT ms$/);
      // Sorted by topic: AAPL's bar and book topics (issue 17) come before its quote and trade.
      expect(lines[3]).toMatch(/^equity\.AAPL\./);
      expect(lines.slice(3, 14).some((l) => /^equity\.AAPL\.quote /.test(l))).toBe(true);
      expect(lines[14]).toMatch(/^… \d+ more topics not shown/);
      // Sizes are whole lots: the old formatter printed 1300 as "13" and 600 as "6". Only quote and
      // trade rows have a size column (bar and book entries have no bid/ask/price/size fields).
      const sizes = lines
        .slice(3, 14)
        .filter((l) => /^equity\.\w+\.(quote|trade) /.test(l))
        .map((l) => l.trim().split(/\s+/).at(-4)!);
      expect(sizes.length).toBeGreaterThan(0);
      expect(sizes.every((s) => /^\d+$/.test(s))).toBe(true);
      expect(sizes.some((s) => Number(s) >= 100)).toBe(true);
      t.keys('C-c');
      await waitForScreen(t.screen, /^EXIT=0$/m);
    } finally {
      await g.gw.stop();
    }
  });

  it('serve: logs are human-readable on a terminal by default', async () => {
    const t = terminal(`${shellQuote(process.execPath)} ${shellQuote(bin)} serve --port 0 --feeds sim-fx`, 120, 20);
    await waitForScreen(t.screen, /^\d\d:\d\d:\d\d\.\d{3}Z INFO {2}feed running feed=sim-fx$/m);
    expect(t.screen()).not.toContain('"level"');
    t.keys('C-c');
    const screen = await waitForScreen(t.screen, /^EXIT=0$/m);
    expect(screen).toMatch(/INFO {2}shutting down signal=SIGINT/);
  });
});
