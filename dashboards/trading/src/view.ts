/**
 * DOM views. Everything here runs inside the animation-frame callback (or on user input):
 * ticks never touch the DOM directly. A row's cells are only written when their text changes,
 * and a price flash is a class on the cell with an expiry time: a cell that keeps changing in
 * the same direction stays lit without further DOM writes. (Restarting a Web Animation per
 * change cost a style recalculation and repaint of every lit cell on every frame.)
 */
import { formatSpread } from './instruments.ts';
import type { Market, Row } from './model.ts';
import type { ConnectionState } from './stream.ts';

/** How long a changed price stays highlighted. A plain class, not an animation: cheap at 1,000+ ticks/s. */
const FLASH_MS = 400;
const COUNT_EVERY_MS = 250;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`dashboard: element #${id} is missing from index.html`);
  return e as T;
}

function fmt(n: number, decimals: number): string {
  return Number.isFinite(n) ? n.toFixed(decimals) : '';
}

/** Sizes and volumes in little room: 300, 12.5k, 3M, 1.25M. */
export function compact(n: number): string {
  if (!Number.isFinite(n)) return '';
  const a = Math.abs(n);
  const short = (v: number, unit: string) => `${Number(v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0))}${unit}`;
  if (a >= 1e9) return short(n / 1e9, 'B');
  if (a >= 1e6) return short(n / 1e6, 'M');
  if (a >= 1e4) return short(n / 1e3, 'k');
  return String(Math.round(n));
}

/** A percentage with enough decimals to show small moves (FX moves by thousandths of a percent). */
function signedPct(n: number): string {
  return signed(n, Number.isFinite(n) && Math.abs(n) < 0.1 ? 3 : 2, '%');
}

function signed(n: number, decimals: number, suffix = ''): string {
  if (!Number.isFinite(n)) return '';
  const s = n.toFixed(decimals);
  // A change that rounds to zero is shown as 0, not as +0.00 or -0.00.
  if (Number(s) === 0) return (0).toFixed(decimals) + suffix;
  return (n > 0 ? `+${s}` : s) + suffix;
}

/** One table row and the text each cell shows, so unchanged cells are never written. */
class RowView {
  readonly tr: HTMLTableRowElement;
  private readonly cells: Record<
    'bidsz' | 'bid' | 'ask' | 'asksz' | 'last' | 'chg' | 'chgpct' | 'vol' | 'spread' | 'count' | 'state',
    HTMLTableCellElement
  >;
  private readonly shown = new Map<string, string>();
  /** Lit cells: direction and when the highlight ends. */
  private readonly lit = new Map<HTMLElement, { dir: number; until: number }>();
  private cls = '';
  private countedAt = 0;
  private countPending = false;

  constructor(
    readonly row: Row,
    onRemove: (row: Row) => void,
  ) {
    this.tr = el('tr');
    this.tr.dataset.key = row.key;
    const sym = el('td', 'sym');
    sym.append(el('span', 'name', row.symbol), el('span', 'cls', row.assetClass));
    // pN: the column's priority; the narrower the watchlist, the fewer are shown (styles.css).
    const c = (name: string, p = '') => el('td', `num ${name}${p ? ` ${p}` : ''}`);
    this.cells = {
      bidsz: c('bidsz size', 'p2'),
      bid: c('bid price'),
      ask: c('ask price'),
      asksz: c('asksz size', 'p2'),
      last: c('last price', 'p2'),
      chg: c('chg', 'p3'),
      chgpct: c('chgpct'),
      vol: c('vol', 'p3'),
      spread: c('spread', 'p4'),
      count: c('count', 'p4'),
      state: el('td', 'state p3'),
    };
    const rm = el('td', 'rm');
    const button = el('button', 'remove', '×');
    button.type = 'button';
    button.title = `remove ${row.symbol}`;
    button.setAttribute('aria-label', `remove ${row.symbol}`);
    button.addEventListener('click', (ev) => {
      ev.stopPropagation();
      onRemove(row);
    });
    rm.append(button);
    const { bidsz, bid, ask, asksz, last, chg, chgpct, vol, spread, count, state } = this.cells;
    this.tr.append(sym, bidsz, bid, ask, asksz, last, chg, chgpct, vol, spread, count, state, rm);
  }

  private set(name: keyof RowView['cells'], text: string): void {
    if (this.shown.get(name) === text) return;
    this.shown.set(name, text);
    this.cells[name].textContent = text;
  }

  private flash(cell: HTMLElement, dir: number, now: number): void {
    if (dir === 0) return;
    const lit = this.lit.get(cell);
    if (lit !== undefined && lit.dir === dir) {
      lit.until = now + FLASH_MS;
      return;
    }
    cell.classList.remove('flash-up', 'flash-down');
    cell.classList.add(dir > 0 ? 'flash-up' : 'flash-down');
    this.lit.set(cell, { dir, until: now + FLASH_MS });
  }

  /** The update counter changes with every tick; four writes a second are plenty to read it. */
  private writeCount(now: number): void {
    const text = this.row.updates.toLocaleString('en-US');
    if (text === this.shown.get('count')) {
      this.countPending = false;
    } else if (now - this.countedAt >= COUNT_EVERY_MS) {
      this.countedAt = now;
      this.countPending = false;
      this.set('count', text);
    } else {
      this.countPending = true;
    }
  }

  /** Between paints: turns off expired highlights and writes a held-back count. Returns whether to come back. */
  refresh(now: number): boolean {
    for (const [cell, lit] of this.lit) {
      if (lit.until <= now) {
        cell.classList.remove('flash-up', 'flash-down');
        this.lit.delete(cell);
      }
    }
    if (this.countPending) this.writeCount(now);
    return this.lit.size > 0 || this.countPending;
  }

  /** Writes what changed; returns whether to come back (a lit cell to turn off, a count held back). */
  paint(selected: boolean, now: number): boolean {
    const r = this.row;
    const d = r.decimals;
    this.set('bidsz', compact(r.bidSize));
    this.set('bid', fmt(r.bid, d));
    this.set('ask', fmt(r.ask, d));
    this.set('asksz', compact(r.askSize));
    this.set('last', fmt(r.last, d));
    this.set('chg', signed(r.change, d));
    this.set('chgpct', signedPct(r.changePct));
    this.set('vol', compact(r.volume));
    this.set('spread', formatSpread(r.assetClass, r.symbol, r.spread, d));
    this.writeCount(now);
    this.set('state', r.stale ? 'stale' : r.gaps > 0 ? `gap ×${r.gaps}` : r.unknown ? 'unknown' : r.updates === 0 ? 'waiting' : '');
    this.flash(this.cells.bid, r.flashBid, now);
    this.flash(this.cells.ask, r.flashAsk, now);
    this.flash(this.cells.last, r.flashLast, now);
    r.flashBid = 0;
    r.flashAsk = 0;
    r.flashLast = 0;
    const change = Number(r.change.toFixed(d)); // the sign of what is shown, not of a rounding residue
    const cls = [
      selected ? 'selected' : '',
      r.stale ? 'stale' : '',
      r.updates === 0 ? 'pending' : '',
      r.unknown ? 'unknown' : '',
      change > 0 ? 'up' : change < 0 ? 'down' : '',
    ]
      .filter(Boolean)
      .join(' ');
    if (cls !== this.cls) {
      this.cls = cls;
      this.tr.className = cls;
    }
    return this.lit.size > 0 || this.countPending;
  }
}

export class WatchlistView {
  private readonly views = new Map<Row, RowView>();
  /** Rows to revisit on later frames (a lit cell, a count held back) even if no tick arrives. */
  private readonly revisit = new Set<RowView>();
  private structure = -1;
  private selectedKey: string | null = null;
  /** Gateway time → paint samples: [paintedAt, latencyMs, paintedAt, latencyMs, ...] over about the last second. */
  readonly latency: number[] = [];
  private readonly sampled = new WeakMap<Row, number>();

  private sampledGts(row: Row): number {
    return this.sampled.get(row) ?? 0;
  }

  constructor(
    private readonly tbody: HTMLElement,
    private readonly empty: HTMLElement,
    private readonly market: Market,
    private readonly actions: { select(row: Row): void; remove(row: Row): void },
  ) {
    tbody.addEventListener('click', (ev) => {
      const tr = (ev.target as HTMLElement).closest('tr');
      const row = tr?.dataset.key !== undefined ? market.rows.get(tr.dataset.key) : undefined;
      if (row !== undefined) actions.select(row);
    });
  }

  setSelected(key: string | null): void {
    if (key === this.selectedKey) return;
    const before = this.selectedKey;
    this.selectedKey = key;
    for (const k of [before, key]) {
      const row = k === null ? undefined : this.market.rows.get(k);
      if (row !== undefined) this.market.dirty.add(row);
    }
  }

  /** Paints what changed since the last frame. `now` is epoch ms at the start of the frame. */
  render(now: number): void {
    const { market } = this;
    if (market.structureVersion !== this.structure) {
      this.structure = market.structureVersion;
      const keep = new Set(market.order);
      for (const [row, view] of this.views) {
        if (!keep.has(row)) {
          view.tr.remove();
          this.views.delete(row);
          this.revisit.delete(view);
        }
      }
      const trs: HTMLTableRowElement[] = [];
      for (const row of market.order) {
        let view = this.views.get(row);
        if (view === undefined) {
          view = new RowView(row, this.actions.remove);
          this.views.set(row, view);
          market.dirty.add(row);
        }
        trs.push(view.tr);
      }
      this.tbody.replaceChildren(...trs);
      this.empty.hidden = market.order.length > 0;
    }
    for (const row of market.dirty) {
      const view = this.views.get(row);
      if (view === undefined) continue;
      if (view.paint(row.key === this.selectedKey, now)) this.revisit.add(view);
      // One sample per row and frame: the newest live tick painted now.
      if (row.lastGts > this.sampledGts(row)) {
        this.latency.push(now, now - row.lastGts);
        this.sampled.set(row, row.lastGts);
      }
    }
    market.dirty.clear();
    for (const view of this.revisit) if (!view.refresh(now)) this.revisit.delete(view);
    // Keep about the last second of samples.
    let drop = 0;
    while (drop < this.latency.length && this.latency[drop]! < now - 1000) drop += 2;
    if (drop > 0) this.latency.splice(0, drop);
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Top bar: connection state, reconnects, ticks/s, latency, RTT, server. Repainted a few times a second. */
export class StatusView {
  private state: ConnectionState = { kind: 'connecting', attempt: 0 };
  private readonly conn = byId('conn');
  private readonly connState = byId('conn-state');
  private readonly connDetail = byId('conn-detail');
  private readonly reconnects = byId('stat-reconnects');
  private readonly rate = byId('stat-rate');
  private readonly latency = byId('stat-latency');
  private readonly rtt = byId('stat-rtt');
  private readonly server = byId('stat-server');
  rttMs = NaN;
  serverName = '';

  setState(state: ConnectionState): void {
    this.state = state;
  }

  get kind(): ConnectionState['kind'] {
    return this.state.kind;
  }

  paint(now: number, reconnects: number, ticksPerSecond: number, latencySamples: readonly number[]): void {
    const s = this.state;
    this.conn.dataset.state = s.kind;
    this.connState.textContent = s.kind;
    let detail = '';
    if (s.kind === 'reconnecting') {
      const wait = Math.max(0, (s.retryAt - now) / 1000);
      detail = `attempt ${s.attempt} · ${wait > 0 ? `retry in ${wait.toFixed(1)} s` : 'retrying'} · ${s.reason}`;
    } else if (s.kind === 'connecting' && s.attempt > 0) detail = `attempt ${s.attempt}`;
    this.connDetail.textContent = detail;
    this.reconnects.textContent = String(reconnects);
    this.rate.textContent = s.kind === 'live' ? Math.round(ticksPerSecond).toLocaleString('en-US') : '–';
    const lat: number[] = [];
    for (let i = 1; i < latencySamples.length; i += 2) lat.push(latencySamples[i]!);
    lat.sort((a, b) => a - b);
    this.latency.textContent = lat.length > 0 ? `${percentile(lat, 50).toFixed(1)} / ${percentile(lat, 99).toFixed(1)} ms` : '–';
    this.rtt.textContent = Number.isFinite(this.rttMs) ? `${this.rttMs.toFixed(1)} ms` : '–';
    this.server.textContent = this.serverName || '–';
  }
}

type NoticeKind = 'gap' | 'stale' | 'info' | 'error' | 'slow';

/** Notices: gaps, stale topics, restarts, slow-consumer steps, server errors. Keyed ones replace each other. */
export class Notices {
  private readonly items = new Map<string, HTMLLIElement>();
  private seq = 0;

  constructor(
    private readonly list: HTMLElement,
    private readonly max = 6,
  ) {}

  show(kind: NoticeKind, text: string, key = `n${++this.seq}`): void {
    const li = this.items.get(key) ?? el('li');
    li.className = `notice ${kind}`;
    li.dataset.kind = kind;
    li.dataset.key = key;
    const time = el('time', '', new Date().toLocaleTimeString());
    const close = el('button', 'dismiss', '×');
    close.type = 'button';
    close.title = 'dismiss';
    close.addEventListener('click', () => this.clear(key));
    li.replaceChildren(time, el('span', 'text', text), close);
    this.items.delete(key);
    this.items.set(key, li);
    this.list.prepend(li);
    while (this.items.size > this.max) {
      const [oldest] = this.items.keys();
      this.clear(oldest!);
    }
  }

  clear(key: string): void {
    this.items.get(key)?.remove();
    this.items.delete(key);
  }

  clearKind(prefix: string): void {
    for (const key of [...this.items.keys()]) if (key.startsWith(prefix)) this.clear(key);
  }
}
