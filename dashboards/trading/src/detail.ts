/**
 * The selected instrument's detail views: the depth ladder (the SDK's verified local book), the
 * time-and-sales tape and the day statistics line. Painted in the animation-frame callback, only
 * when their data changed; cells are written only when their text changes.
 */
import type { BookLevel } from '@tickgate/client';
import type { Row } from './model.ts';
import { compact } from './view.ts';

function fmt(n: number | null | undefined, decimals: number): string {
  return typeof n === 'number' && Number.isFinite(n) ? n.toFixed(decimals) : '–';
}

function setText(e: HTMLElement, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

interface LadderRow {
  tr: HTMLTableRowElement;
  bid: HTMLTableCellElement;
  price: HTMLTableCellElement;
  ask: HTMLTableCellElement;
}

/**
 * Asks above (highest first, best ask at the bottom), then the spread, then bids (best first).
 * Each level's row carries a bar whose length is its cumulative size from the best level, as a
 * share of the larger side's total: the shape of the book at a glance.
 */
export class LadderView {
  private readonly rows: LadderRow[] = [];

  constructor(private readonly tbody: HTMLElement) {}

  private row(i: number): LadderRow {
    let r = this.rows[i];
    if (r === undefined) {
      const tr = document.createElement('tr');
      const bid = document.createElement('td');
      const price = document.createElement('td');
      const ask = document.createElement('td');
      bid.className = 'size bidsz';
      price.className = 'price';
      ask.className = 'size asksz';
      tr.append(bid, price, ask);
      r = { tr, bid, price, ask };
      this.rows.push(r);
    }
    return r;
  }

  render(bids: readonly BookLevel[], asks: readonly BookLevel[], decimals: number): void {
    const cumBid: number[] = [];
    const cumAsk: number[] = [];
    let sum = 0;
    for (const [, size] of bids) {
      sum += size;
      cumBid.push(sum);
    }
    sum = 0;
    for (const [, size] of asks) {
      sum += size;
      cumAsk.push(sum);
    }
    const total = Math.max(cumBid.at(-1) ?? 0, cumAsk.at(-1) ?? 0, 1);
    const trs: HTMLTableRowElement[] = [];
    let i = 0;
    const level = (side: 'bid' | 'ask', price: number, size: number, cum: number) => {
      const r = this.row(i++);
      if (r.tr.className !== side) r.tr.className = side;
      setText(r.price, price.toFixed(decimals));
      setText(side === 'bid' ? r.bid : r.ask, compact(size));
      setText(side === 'bid' ? r.ask : r.bid, '');
      r.tr.style.setProperty('--depth', `${((cum / total) * 100).toFixed(1)}%`);
      r.tr.title = `${side} ${price.toFixed(decimals)}: ${size.toLocaleString('en-US')}; cumulative ${cum.toLocaleString('en-US')}`;
      trs.push(r.tr);
    };
    for (let k = asks.length - 1; k >= 0; k--) level('ask', asks[k]![0], asks[k]![1], cumAsk[k]!);
    const spread = this.row(i++);
    spread.tr.className = 'spread-row';
    spread.tr.style.removeProperty('--depth');
    spread.tr.title = '';
    setText(spread.bid, '');
    setText(spread.ask, '');
    const best = asks.length > 0 && bids.length > 0 ? asks[0]![0] - bids[0]![0] : NaN;
    setText(spread.price, Number.isFinite(best) ? `spread ${best.toFixed(decimals)}` : 'no book');
    trs.push(spread.tr);
    for (let k = 0; k < bids.length; k++) level('bid', bids[k]![0], bids[k]![1], cumBid[k]!);
    if (trs.length !== this.tbody.childElementCount || trs.some((tr, n) => this.tbody.children[n] !== tr))
      this.tbody.replaceChildren(...trs);
  }

  clear(): void {
    this.tbody.replaceChildren();
  }
}

/** Time and sales: the selected row's recent trades, newest first, coloured by tick direction. */
export class TapeView {
  private shown = -1;
  private shownRow: Row | null = null;

  constructor(
    private readonly tbody: HTMLElement,
    private readonly empty: HTMLElement,
  ) {}

  render(row: Row | null): void {
    if (row === this.shownRow && (row === null || row.tradesVersion === this.shown)) return;
    this.shownRow = row;
    this.shown = row?.tradesVersion ?? -1;
    const trades = row?.trades ?? [];
    this.empty.hidden = trades.length > 0;
    if (row !== null && trades.length === 0) {
      this.empty.textContent = row.assetClass === 'fx' ? 'FX pairs are quoted, not traded: no trades to show.' : 'waiting for trades…';
    }
    const trs: HTMLTableRowElement[] = [];
    for (let k = trades.length - 1; k >= 0; k--) {
      const t = trades[k]!;
      const tr = document.createElement('tr');
      tr.className = t.dir > 0 ? 'up' : t.dir < 0 ? 'down' : '';
      const d = new Date(t.ts);
      const time = document.createElement('td');
      time.className = 'time';
      time.textContent = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}:${String(d.getSeconds()).padStart(2, '0')}.${String(d.getMilliseconds()).padStart(3, '0')}`;
      const price = document.createElement('td');
      price.className = 'price';
      price.textContent = t.price.toFixed(row!.decimals);
      const size = document.createElement('td');
      size.className = 'size';
      size.textContent = compact(t.size);
      tr.append(time, price, size);
      trs.push(tr);
    }
    this.tbody.replaceChildren(...trs);
  }
}

/** The selected instrument's day statistics, one line: range, open, previous close, VWAP, volume, change %. */
export class DayStatsView {
  constructor(private readonly el: HTMLElement) {}

  render(row: Row | null): void {
    const st = row?.stats ?? null;
    if (row === null || st === null) {
      setText(this.el, row === null ? '' : 'day statistics: waiting for a snapshot');
      return;
    }
    const d = row.decimals;
    const pct = Number.isFinite(row.changePct)
      ? `${row.changePct >= 0 ? '+' : ''}${row.changePct.toFixed(Math.abs(row.changePct) < 0.1 ? 3 : 2)}%`
      : '–';
    const ref = st.prevClose !== null ? 'prev close' : 'open';
    const parts = [
      `range ${fmt(row.dayLow, d)} – ${fmt(row.dayHigh, d)}`,
      `open ${fmt(st.open, d)}`,
      `prev close ${fmt(st.prevClose, d)}`,
      `${st.source === 'mid' ? 'mean mid' : 'vwap'} ${fmt(st.vwap, d)}`,
    ];
    if (st.source === 'trade') parts.push(`volume ${compact(row.volume)}`);
    parts.push(`chg ${pct} vs ${ref}`);
    setText(this.el, parts.join(' · '));
  }
}
