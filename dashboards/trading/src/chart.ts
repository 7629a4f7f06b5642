/**
 * The price charts of the selected instrument, drawn with TradingView Lightweight Charts:
 * a tick chart (the mid of every quote, evenly spaced, one point per tick) and 1-second candles.
 *
 * Lightweight Charts' time scale works in whole seconds and spaces points by index, so the tick
 * chart uses each point's running index as its "time" and formats the axis and crosshair with
 * the tick's real event time. The TradingView attribution logo stays on (see the footer too):
 * the library's license asks for it.
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
import type { Row } from './model.ts';

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
  private paintedCandles = 0;

  constructor(ticksEl: HTMLElement, candlesEl: HTMLElement) {
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
    return typeof t === 'number' ? this.row?.history.tsOf(t) : undefined;
  }

  get selected(): Row | null {
    return this.row;
  }

  /** Shows `row` (or nothing): loads the history it holds; `render` keeps it live. */
  select(row: Row | null): void {
    this.row = row;
    this.paintedPoints = 0;
    this.paintedCandles = 0;
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

  /** Pushes what arrived since the last call. Called once per animation frame; cheap when nothing changed. */
  render(): void {
    const row = this.row;
    if (row === null) return;
    const h = row.history;
    if (h.count === this.paintedPoints) return;
    // From scratch after a selection, or when more arrived than the history holds.
    const fresh = this.paintedPoints === 0 || this.paintedPoints < h.firstIndex - 1;
    const points = h.pointsAfter(this.paintedPoints);
    const done = h.completedAfter(fresh ? 0 : this.paintedCandles);
    const bars = h.current === null ? done : [...done, h.current];
    if (fresh) {
      this.line.setData(points.map((p) => ({ time: p.index as UTCTimestamp, value: p.value })));
      this.candles.setData(bars.map((c) => ({ ...c, time: c.time as UTCTimestamp })));
    } else {
      for (const p of points) this.line.update({ time: p.index as UTCTimestamp, value: p.value });
      for (const c of bars) this.candles.update({ ...c, time: c.time as UTCTimestamp });
    }
    this.paintedPoints = h.count;
    this.paintedCandles = h.completedCandles;
  }
}
