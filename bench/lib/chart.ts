import type { Agg } from './stats.ts';
import { ms, si } from './stats.ts';
import type { ScenarioReport } from './report.ts';
import { SERVER_LABELS, type ServerName } from './workload-run.ts';

/** A hand-rolled SVG of the latest S1/S2/S3 results: grouped horizontal bars, one panel per scenario. */

interface Bar {
  label: string;
  value: number;
  color: string;
}
interface Group {
  label: string;
  bars: Bar[];
}
interface Panel {
  title: string;
  log: boolean;
  fmt: (x: number) => string;
  groups: Group[];
}

const COLORS: Record<string, string> = {
  tickgate: '#2563eb',
  uws: '#16a34a',
  ws: '#f59e0b',
  socketio: '#dc2626',
  centrifuge: '#0891b2',
};
const EXTRA = '#7c3aed';

/** 1, 2 or 5 times a power of ten, at least `x`. */
function niceStep(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Row {
  variant: string;
  server: string;
  label: string;
}

/** The server's colour; variants of a server (e.g. "tickgate (maxTicksPerFrame=1)") get a distinct one. */
function colorOf(r: Row): string {
  return r.label === SERVER_LABELS[r.server as ServerName] ? (COLORS[r.server] ?? EXTRA) : EXTRA;
}

function groupsOf<R extends Row>(rows: R[], value: (r: R) => number): Group[] {
  const groups: Group[] = [];
  for (const r of rows) {
    const v = value(r);
    if (!Number.isFinite(v) || v <= 0) continue;
    let g = groups.find((x) => x.label === r.variant);
    if (!g) {
      g = { label: r.variant, bars: [] };
      groups.push(g);
    }
    g.bars.push({ label: r.label, value: v, color: colorOf(r) });
  }
  return groups;
}

function panels(reports: ScenarioReport[]): Panel[] {
  const out: Panel[] = [];
  const s1 = reports.find((r) => r.scenario === 'S1');
  const s1rows = (s1?.summary.rows ?? []) as (Row & { ticksPerSec: Agg })[];
  if (s1rows.length) {
    out.push({
      title: `S1 delivered ticks/s, ${s1!.params.clients} clients × ${s1!.params.topics} topics, median of ${s1!.params.repeats} (log scale, higher is better)`,
      log: true,
      fmt: si,
      groups: groupsOf(
        s1rows.map((r) => ({ ...r, variant: r.variant.startsWith('tpf=') ? `${r.variant.slice(4)} tick(s) per frame` : r.variant })),
        (r) => r.ticksPerSec.median,
      ),
    });
  }
  const s2 = reports.find((r) => r.scenario === 'S2');
  const s2rows = (s2?.summary.rows ?? []) as (Row & { p99: Agg })[];
  if (s2rows.length) {
    out.push({
      title: `S2 p99 latency, ms, ${s2!.params.clients} clients, open loop, median of ${s2!.params.repeats} (log scale, lower is better)`,
      log: true,
      fmt: ms,
      groups: groupsOf(s2rows, (r) => r.p99.median),
    });
  }
  const s3 = reports.find((r) => r.scenario === 'S3');
  const s3rows = (s3?.summary.rows ?? []) as (Row & { rssPerConnBytes: Agg })[];
  if (s3rows.length) {
    out.push({
      title: `S3 RSS per idle connection, KB, ${s3!.params.conns} connections, median of ${s3!.params.repeats} (lower is better)`,
      log: false,
      fmt: (x) => (Number.isInteger(x) ? String(x) : x.toFixed(2)),
      groups: groupsOf(
        s3rows.map((r) => ({ ...r, variant: '' })),
        (r) => r.rssPerConnBytes.median / 1024,
      ),
    });
  }
  return out;
}

export function renderChart(reports: ScenarioReport[]): string | null {
  const ps = panels(reports).filter((p) => p.groups.length > 0);
  if (ps.length === 0) return null;
  const W = 820;
  const labelW = 230;
  const plotX = labelW + 10;
  const plotW = W - plotX - 90;
  const barH = 16;
  const gap = 4;
  const parts: string[] = [];
  let y = 30;
  const meta = reports.find((r) => r.scenario === 'S1') ?? reports[0]!;
  parts.push(
    `<text x="10" y="20" class="h">tickgate fan-out benchmark — ${esc(`${meta.machine.cores} × ${meta.machine.cpuModel}, Node ${meta.machine.node}, commit ${meta.git.commit.slice(0, 10)}${meta.quick ? ', quick run' : ''}`)}</text>`,
  );
  for (const p of ps) {
    y += 22;
    parts.push(`<text x="10" y="${y}" class="t">${esc(p.title)}</text>`);
    y += 8;
    const values = p.groups.flatMap((g) => g.bars.map((b) => b.value));
    let lo: number;
    let hi: number;
    if (p.log) {
      lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
      hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
      if (hi === lo) hi = lo * 10;
    } else {
      lo = 0;
      const step = niceStep(Math.max(...values) / 4);
      hi = step * Math.ceil((Math.max(...values) * 1.05) / step);
    }
    const xOf = (v: number) =>
      plotX + (p.log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (v - lo) / (hi - lo)) * plotW;
    const top = y;
    const rowsH = p.groups.reduce((s, g) => s + (g.label ? 16 : 0) + g.bars.length * (barH + gap), 0) + 6;
    // grid
    const ticks: number[] = [];
    if (p.log) for (let v = lo; v <= hi * 1.0001; v *= 10) ticks.push(v);
    else {
      const step = niceStep(hi / 4);
      for (let v = 0; v <= hi + step / 1000; v += step) ticks.push(v);
    }
    for (const v of ticks) {
      const x = xOf(v).toFixed(1);
      parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + rowsH}" class="g"/>`);
      parts.push(`<text x="${x}" y="${top + rowsH + 12}" class="a" text-anchor="middle">${esc(p.fmt(v))}</text>`);
    }
    y = top + 4;
    for (const g of p.groups) {
      if (g.label) {
        y += 12;
        parts.push(`<text x="10" y="${y}" class="gl">${esc(g.label)}</text>`);
        y += 4;
      }
      for (const b of g.bars) {
        const x1 = xOf(Math.max(b.value, lo));
        const w = Math.max(1, x1 - plotX);
        parts.push(`<text x="${labelW}" y="${y + barH - 4}" class="l" text-anchor="end">${esc(b.label)}</text>`);
        parts.push(`<rect x="${plotX}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color}" rx="2"/>`);
        parts.push(`<text x="${(plotX + w + 4).toFixed(1)}" y="${y + barH - 4}" class="v">${esc(p.fmt(b.value))}</text>`);
        y += barH + gap;
      }
    }
    y = top + rowsH + 20;
  }
  const noisy = reports.filter((r) => r.warnings.length > 0).map((r) => r.scenario);
  if (noisy.length) {
    parts.push(
      `<text x="10" y="${y}" class="a">${esc(`${noisy.join(', ')}: some runs were flagged (other load on the machine, or failures); see results/summary.md.`)}</text>`,
    );
    y += 14;
  }
  const H = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">`,
    '<style>.h{font-size:14px;font-weight:600;fill:#111}.t{font-size:13px;font-weight:600;fill:#111}.gl{font-size:11px;font-weight:600;fill:#444}' +
      '.l{font-size:11px;fill:#222}.v{font-size:11px;fill:#222}.a{font-size:10px;fill:#666}.g{stroke:#ddd;stroke-width:1}</style>',
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
