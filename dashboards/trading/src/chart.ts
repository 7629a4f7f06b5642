/**
 * The price charts of the selected instrument, drawn with TradingView Lightweight Charts:
 * a tick chart (the mid of every quote, evenly spaced, one point per tick) and candles from the
 * gateway's bar topic (`<class>.<SYM>.bar_1s`: the snapshot's history, then live updates).
 *
 * Lightweight Charts' time scale works in whole seconds and spaces points by index, so the tick
 * chart uses each point's running index as its "time" and formats the axis and crosshair with
 * the tick's real event time. The library caches axis labels by time value, so each selection
 * gets its own range of "times" (`base` + index): indices of the new instrument never reuse the
 * previous one's labels. The TradingView attribution logo stays on (see the footer too): the
 * library's license asks for it.
 */
import {
  CandlestickSeries,
  ColorType,
  createChart,
  LineSeries,
  type IChartApi,
  type ISeriesApi,
  type Time,
  type UTCTimestamp,
} from 'lightweight-charts';
import type { BarFields } from '@tickgate/client';
import type { Candle } from './history.ts';
import type { Row } from './model.ts';

/** Tick-chart "times" of one selection: base + index; far apart, so no two selections share one. */
const SELECTION_SPAN = 10_000_000;
/** Bars kept for the candle chart. */
const MAX_BARS = 600;

const THEME = {
  layout: { background: { type: ColorType.Solid, color: '#0b1220' }, textColor: '#94a3b8', attributionLogo: true, fontSize: 11 },
  grid: { vertLines: { color: '#1e293b' }, horzLines: { color: '#1e293b' } },
  rightPriceScale: { borderColor: '#334155' },
  timeScale: { borderColor: '#334155', timeVisible: true, secondsVisible: true, rightOffset: 4 },
  autoSize: true,
} as const;

function clock(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function secondsClock(t: Time): string {
  return typeof t === 'number' ? clock(t * 1000).slice(0, 8) : '';
}

export class ChartView {
  private readonly ticksChart: IChartApi;
  private readonly candlesChart: IChartApi;
  private readonly line: ISeriesApi<'Line'>;
  private readonly candles: ISeriesApi<'Candlestick'>;
  private row: Row | null = null;
  private paintedPoints = 0;
  private base = 0;
  private bars: Candle[] = [];
  /** Bars to push on the next render, or 'all' to replace the series (after a snapshot or a selection). */
  private barUpdates: Candle[] | 'all' = 'all';
  private inBarSnapshot = false;

  constructor(
    private readonly ticksEl: HTMLElement,
    candlesEl: HTMLElement,
  ) {
    this.ticksChart = createChart(ticksEl, {
      ...THEME,
      localization: { timeFormatter: (t: Time) => clock(this.tsOfIndex(t)) },
      timeScale: { ...THEME.timeScale, barSpacing: 3, tickMarkFormatter: (t: Time) => clock(this.tsOfIndex(t)).slice(0, 8) },
    });
    this.candlesChart = createChart(candlesEl, {
      ...THEME,
      localization: { timeFormatter: secondsClock },
      timeScale: { ...THEME.timeScale, barSpacing: 8, tickMarkFormatter: secondsClock },
    });
    this.line = this.ticksChart.addSeries(LineSeries, { color: '#38bdf8', lineWidth: 2, priceLineVisible: true, lastValueVisible: true });
    this.candles = this.candlesChart.addSeries(CandlestickSeries, {
      upColor: '#22c55e',
      downColor: '#ef4444',
      borderVisible: false,
      wickUpColor: '#22c55e',
      wickDownColor: '#ef4444',
    });
  }

  private tsOfIndex(t: Time): number | undefined {
    return typeof t === 'number' ? this.row?.history.tsOf(t - this.base) : undefined;
  }

  get selected(): Row | null {
    return this.row;
  }

  /** Shows `row` (or nothing): loads the history it holds; `render` keeps it live. */
  select(row: Row | null): void {
    this.row = row;
    this.paintedPoints = 0;
    this.base += SELECTION_SPAN;
    this.bars = [];
    this.barUpdates = 'all';
    this.inBarSnapshot = false;
    this.line.setData([]);
    this.candles.setData([]);
    if (row === null) return;
    const minMove = 10 ** -row.decimals;
    const priceFormat = { type: 'price' as const, precision: row.decimals, minMove };
    this.line.applyOptions({ priceFormat });
    this.candles.applyOptions({ priceFormat });
    this.render();
    this.ticksChart.timeScale().scrollToRealTime();
    this.candlesChart.timeScale().scrollToRealTime();
  }

  /**
   * A bar of the selected instrument's bar topic. `snapshot`: part of the history a subscribe
   * brought (a new run of them replaces what was held). A bar older than the newest held is
   * ignored (the chart's time only moves forward).
   */
  addBar(bar: BarFields, snapshot: boolean): void {
    if (snapshot && !this.inBarSnapshot) {
      this.bars = [];
      this.barUpdates = 'all';
    }
    this.inBarSnapshot = snapshot;
    const c: Candle = { time: Math.floor(bar.start / 1000), open: bar.open, high: bar.high, low: bar.low, close: bar.close };
    const last = this.bars.at(-1);
    if (last !== undefined && c.time < last.time) return;
    if (last !== undefined && c.time === last.time) this.bars[this.bars.length - 1] = c;
    else {
      this.bars.push(c);
      if (this.bars.length > MAX_BARS) this.bars.splice(0, this.bars.length - MAX_BARS);
    }
    if (this.barUpdates !== 'all') this.barUpdates.push(c);
  }

  /** Bars held for the candle chart (for tests and the page's data attributes). */
  get barCount(): number {
    return this.bars.length;
  }

  /** Pushes what arrived since the last call. Called once per animation frame; cheap when nothing changed. */
  render(): void {
    const row = this.row;
    if (row === null) return;
    if (this.barUpdates === 'all') {
      if (this.bars.length > 0) {
        this.candles.setData(this.bars.map((c) => ({ ...c, time: c.time as UTCTimestamp })));
        this.candlesChart.timeScale().scrollToRealTime();
        this.barUpdates = [];
      }
    } else if (this.barUpdates.length > 0) {
      for (const c of this.barUpdates) this.candles.update({ ...c, time: c.time as UTCTimestamp });
      this.barUpdates = [];
    }
    const h = row.history;
    if (h.count === this.paintedPoints) return;
    // From scratch after a selection, or when more arrived than the history holds.
    const fresh = this.paintedPoints === 0 || this.paintedPoints < h.firstIndex - 1;
    const points = h.pointsAfter(this.paintedPoints);
    if (fresh) this.line.setData(points.map((p) => ({ time: (this.base + p.index) as UTCTimestamp, value: p.value })));
    else for (const p of points) this.line.update({ time: (this.base + p.index) as UTCTimestamp, value: p.value });
    this.paintedPoints = h.count;
    // The x values on screen (tests check a new selection never reuses the previous one's).
    this.ticksEl.dataset.x = `${this.base + points[0]!.index}-${this.base + h.count}`;
  }
}
