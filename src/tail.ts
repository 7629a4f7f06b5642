import type { Tick } from '@tickgate/client';

/** What `tickgate tail` keeps per topic for its table. */
export interface TailRow {
  tick: Tick;
  updates: number;
}

/**
 * 1.23450 → "1.2345", 1300 → "1300": trailing zeros go only after a decimal point (stripping
 * them from an integer printed "13" for a size of 1300).
 */
export function formatNumber(n: number | undefined, digits = 5): string {
  if (n === undefined) return '';
  const s = n.toFixed(digits);
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

export const TABLE_HEADER = ['TOPIC', 'BID', 'ASK', 'PRICE', 'SIZE', 'SEQ', 'UPDATES', 'LAT ms'];

function cells({ tick: t, updates }: TailRow): string[] {
  return [
    t.topic,
    formatNumber(t.bid),
    formatNumber(t.ask),
    formatNumber(t.price),
    formatNumber(t.size ?? t.bidSize, 0),
    String(t.seq),
    String(updates),
    t.latencyMs.toFixed(2),
  ];
}

/**
 * The screen of `tickgate tail` on a terminal: a status line, the header, then one row per topic,
 * cut to `height` lines so the header never scrolls off; a last line says how many topics did
 * not fit. Lines are cut to `width` so none wraps (a wrapped line would push the header off too).
 */
export function renderTable(rows: Map<string, TailRow>, status: string, height = Infinity, width = Infinity): string[] {
  const all = [...rows.values()].sort((a, b) => (a.tick.topic < b.tick.topic ? -1 : 1)).map(cells);
  const fixed = 3; // status, blank, header
  const room = Math.max(1, height - fixed);
  const shown = all.length > room ? all.slice(0, room - 1) : all;
  const widths = TABLE_HEADER.map((h, i) => Math.max(h.length, ...shown.map((l) => l[i]!.length)));
  const row = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  const lines = [status, '', row(TABLE_HEADER), ...shown.map(row)];
  if (shown.length < all.length)
    lines.push(`… ${all.length - shown.length} more topics not shown (enlarge the window, or tail fewer topics)`);
  return lines.map((l) => (l.length > width ? `${l.slice(0, Math.max(0, width - 1))}…` : l));
}

/** One line per tick when stdout is not a terminal (and not --json). */
export function tickLine(tick: Tick): string {
  const values =
    tick.price !== undefined
      ? `price=${formatNumber(tick.price)} size=${formatNumber(tick.size, 0)}`
      : `bid=${formatNumber(tick.bid)} ask=${formatNumber(tick.ask)}`;
  return `${tick.topic} seq=${tick.seq} ${values}`;
}
