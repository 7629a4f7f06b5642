import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { REPO_DIR } from './ipc.ts';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  node: string;
  platform: string;
  kernel: string;
  totalMemoryMB: number;
  /** `ulimit -n` the harness was started with (its children get theirs raised, up to the hard limit). */
  nofileSoft: string;
  /** `ulimit -Hn`: the most open files any one process here may have (caps the S3 sweep). */
  nofileHard: string;
  uwsPackage: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  let uwsPackage = 'unknown';
  try {
    const pkg = JSON.parse(readFileSync(`${REPO_DIR}/node_modules/uWebSockets.js/package.json`, 'utf8')) as {
      name: string;
      version: string;
    };
    uwsPackage = `${pkg.name}@${pkg.version}`;
  } catch {
    // not installed where expected
  }
  let nofileSoft = 'unknown';
  let nofileHard = 'unknown';
  try {
    nofileSoft = execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    nofileHard = execFileSync('/bin/sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  } catch {
    // no shell
  }
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    totalMemoryMB: Math.round(os.totalmem() / 1048576),
    nofileSoft,
    nofileHard,
    uwsPackage,
  };
}

export interface GitInfo {
  commit: string;
  dirty: boolean;
}

export function gitInfo(): GitInfo {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: REPO_DIR,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: REPO_DIR,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

/** Aggregate CPU jiffies from /proc/stat (Linux); null elsewhere. */
interface CpuTimes {
  busy: number;
  steal: number;
  total: number;
}

function readCpuTimes(): CpuTimes | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    return { busy: user + nice + system + irq + softirq, steal, total };
  } catch {
    return null;
  }
}

export interface CpuShare {
  /** Percent of all cores' time spent busy (user+system+irq) by anything on the machine. */
  busyPct: number;
  /** Percent of all cores' time stolen by the hypervisor. */
  stealPct: number;
}

/** Measures machine-wide busy and steal over an interval: `const m = meter(); …; m.stop()`. */
export function cpuMeter(): { stop(): CpuShare | null } {
  const a = readCpuTimes();
  return {
    stop() {
      const b = readCpuTimes();
      if (!a || !b || b.total === a.total) return null;
      const dt = b.total - a.total;
      return { busyPct: (100 * (b.busy - a.busy)) / dt, stealPct: (100 * (b.steal - a.steal)) / dt };
    },
  };
}

export interface QuietResult {
  waitedMs: number;
  last: CpuShare | null;
  quiet: boolean;
}

/**
 * Waits until the machine looks quiet: hypervisor steal below `maxStealPct` and other load below
 * `maxBusyPct`, over consecutive 500 ms samples, or gives up after `maxWaitMs` (and says so).
 */
export async function waitForQuiet(opts: { maxStealPct: number; maxBusyPct: number; maxWaitMs: number }): Promise<QuietResult> {
  const t0 = Date.now();
  let last: CpuShare | null = null;
  for (;;) {
    const m = cpuMeter();
    await new Promise((r) => setTimeout(r, 500));
    last = m.stop();
    if (!last) return { waitedMs: Date.now() - t0, last, quiet: true };
    if (last.stealPct <= opts.maxStealPct && last.busyPct <= opts.maxBusyPct) {
      return { waitedMs: Date.now() - t0, last, quiet: true };
    }
    if (Date.now() - t0 >= opts.maxWaitMs) return { waitedMs: Date.now() - t0, last, quiet: false };
  }
}
