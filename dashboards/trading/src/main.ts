/**
 * The trading dashboard's composition root: reads the settings, builds the model, the views and
 * the stream client, and wires them. Data flow:
 *
 *   WebSocket frame → StreamClient → Market (numbers, dirty set) ─┐
 *                                                                 ├→ requestAnimationFrame → views (DOM, chart)
 *   user input (add / remove / select / max rate) → Market + StreamClient.setWanted + localStorage
 *
 * `?url=ws://host:port/v1/stream` points the page at another gateway (default: the one serving it).
 * `?token=<jwt or API key>` is passed on to the stream URL, for a gateway with auth enabled
 * (docs/security.md); it is never shown on the page.
 */
import './styles.css';
import type { OrderBook } from '@tickgate/client';
import { ChartView } from './chart.ts';
import { DayStatsView, LadderView, TapeView } from './detail.ts';
import { parseEntry, type WatchEntry } from './instruments.ts';
import { Market, SORT_KEYS, type Row, type SortKey } from './model.ts';
import { loadSaved, save, type Saved } from './storage.ts';
import { SdkStreamClient, type StreamClient } from './stream.ts';
import { byId, Notices, StatusView, WatchlistView } from './view.ts';

function streamUrl(): string {
  const params = new URLSearchParams(location.search);
  const base = params.get('url') || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/stream`;
  const token = params.get('token');
  if (!token) return base;
  const url = new URL(base);
  url.searchParams.set('token', token);
  return url.toString();
}

/** The stream URL without its token, for display. */
function shown(url: string): string {
  const u = new URL(url);
  if (u.searchParams.has('token')) u.searchParams.set('token', '…');
  return u.toString();
}

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

const saved: Saved = loadSaved(storage());
const entries: WatchEntry[] = [];
for (const text of saved.watchlist) {
  const e = parseEntry(text);
  if (typeof e !== 'string' && !entries.some((x) => x.text === e.text)) entries.push(e);
}

const market = new Market();
market.setEntries(entries);
const notices = new Notices(byId('notices'));
const status = new StatusView();
const chart = new ChartView(byId('chart-ticks'), byId('chart-candles'));
const candlesBox = byId('chart-candles');
const candlesLabel = byId('candles-label');
const CANDLES_LABEL = candlesLabel.textContent;
const ladder = new LadderView(byId('ladder-rows'));
const bookState = byId('book-state');
const tape = new TapeView(byId('tape-rows'), byId('tape-empty'));
const dayStats = new DayStatsView(byId('day-stats'));
const detailMsg = byId('detail-msg');
/** The selected instrument's verified book (the SDK keeps it), and whether the ladder must repaint. */
let selectedBook: OrderBook | null = null;
let bookDirty = false;
const chartTitle = byId('chart-title');
const chartSub = byId('chart-sub');
const rateSelect = byId<HTMLSelectElement>('max-rate');
const rateLabel = byId('rate-label');
const entryList = byId('entries');
const addForm = byId<HTMLFormElement>('add-form');
const addInput = byId<HTMLInputElement>('add-input');
const addError = byId('add-error');
const url = streamUrl();
byId('build-info').textContent = `stream ${shown(url)}`;

function persist(): void {
  save(storage(), { watchlist: entries.map((e) => e.text), maxRate: saved.maxRate, selected: chart.selected?.key ?? null });
}

/** The selected instrument's book and bar topics: the ladder and the candle chart. */
function detailTopics(row: Row | null): string[] {
  return row === null ? [] : [`${row.key}.book`, `${row.key}.bar_1s`];
}

function wantedTopics(): string[] {
  return [...entries.flatMap((e) => e.subscriptions), ...detailTopics(chart.selected)];
}

function select(row: Row | null): void {
  const changed = row !== chart.selected;
  chart.select(row);
  watchlist.setSelected(row?.key ?? null);
  chartTitle.textContent = row === null ? 'select a row' : row.symbol;
  chartSub.textContent = row === null ? '' : row.assetClass;
  if (changed) {
    selectedBook = null;
    bookDirty = false;
    ladder.clear();
    bookState.textContent = row === null ? '' : 'waiting';
    candlesLabel.textContent = CANDLES_LABEL;
    // Declared later (the client needs the callbacks above); undefined only during start-up.
    client?.setWanted(wantedTopics(), saved.maxRate);
  }
  persist();
}

function applyEntries(): void {
  market.setEntries(entries);
  client?.setWanted(wantedTopics(), saved.maxRate);
  renderEntries();
  const selected = chart.selected;
  if (selected !== null && !market.rows.has(selected.key)) select(market.order[0] ?? null);
  persist();
}

function removeEntry(entry: WatchEntry): void {
  const i = entries.indexOf(entry);
  if (i < 0) return;
  entries.splice(i, 1);
  applyEntries();
}

function renderEntries(): void {
  entryList.replaceChildren(
    ...entries.map((entry) => {
      const li = document.createElement('li');
      li.dataset.entry = entry.text;
      li.title = entry.subscriptions.join(', ');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'remove-entry';
      b.textContent = '×';
      b.title = `remove ${entry.text}`;
      b.setAttribute('aria-label', `remove ${entry.text}`);
      b.addEventListener('click', () => removeEntry(entry));
      li.append(document.createTextNode(entry.text), b);
      return li;
    }),
  );
}

const watchlist = new WatchlistView(byId('rows'), byId('empty'), market, {
  select,
  /** A row's × removes the watchlist entry that brought it in (for a pattern: the whole pattern). */
  remove(row) {
    const entry = entries.find((e) => e.instruments.includes(row.key)) ?? entries.find((e) => [...row.topics].some((t) => e.matches(t)));
    if (entry !== undefined) removeEntry(entry);
  },
});

let rateTiers: readonly number[] = [];
function configureRateSelect(): void {
  const supported = rateTiers.length > 0;
  rateSelect.disabled = !supported;
  rateLabel.title = supported ? `per-topic max rate; this gateway offers ${rateTiers.join(', ')}/s` : 'needs server max-rate support';
  for (const option of Array.from(rateSelect.options)) {
    const v = Number(option.value);
    option.disabled = supported && v > 0 && !rateTiers.includes(v);
  }
  // Without server support every tick arrives, whatever was chosen before.
  rateSelect.value = supported ? String(saved.maxRate) : '0';
  if (rateSelect.value === '') rateSelect.value = '0';
}

let client: StreamClient | undefined;
client = new SdkStreamClient(url, {
  onState(state) {
    status.setState(state);
    if (state.kind === 'reconnecting' && state.attempt === 1) notices.show('info', `disconnected: ${state.reason}; reconnecting`, 'conn');
    if (state.kind === 'live') notices.clear('conn');
  },
  onWelcome(info) {
    status.serverName = info.server;
    rateTiers = info.rateTiers;
    configureRateSelect();
    market.clearStale();
    notices.clearKind('stale:');
  },
  onEpochChanged() {
    notices.show(
      'info',
      'the gateway restarted (new epoch): sequence numbers start again; prices continue from the new snapshots',
      'epoch',
    );
  },
  onTicks(topic, ticks, snapshot) {
    const row = market.rowFor(topic);
    if (row !== undefined && row.pendingTopics.size > 0) notices.clear(`unknown:${row.key}`);
    market.applyTicks(topic, ticks, snapshot);
  },
  onGap(topic, gap) {
    if (market.rowFor(topic) === undefined) return;
    market.noteGap(topic);
    const range = gap.from !== undefined ? ` seq ${gap.from}${gap.to !== undefined && gap.to !== gap.from ? `–${gap.to}` : ''}` : '';
    const why =
      gap.reason === 'missed' ? 'missed' : gap.reason === 'lost' ? 'lost upstream' : `could not resume (${gap.reason.replace('_', ' ')}):`;
    notices.show('gap', `gap on ${topic}: ${why}${range}`, `gap:${topic}`);
  },
  onTopicStatus(topic, stale, reason) {
    market.setTopicStatus(topic, stale);
    if (stale) notices.show('stale', `${topic} is stale (${reason.replace('_', ' ')})`, `stale:${topic}`);
    else notices.clear(`stale:${topic}`);
  },
  onSlow(frame) {
    notices.show('slow', frame.message, 'slow');
  },
  onRateGranted(rate) {
    rateLabel.dataset.granted = String(rate);
  },
  onServerError(code, message) {
    notices.show('error', `${code}: ${message}`);
  },
  onRtt(ms) {
    status.rttMs = ms;
  },
  onBook(topic, book) {
    if (chart.selected === null || topic !== `${chart.selected.key}.book`) return;
    selectedBook = book;
    bookDirty = true;
  },
  onBookResync(topic) {
    if (chart.selected !== null && topic === `${chart.selected.key}.book`)
      bookState.textContent = 'checksum mismatch: fetching a fresh snapshot';
    notices.show('info', `${topic}: the local book diverged (checksum mismatch); fetching a fresh snapshot`, `resync:${topic}`);
  },
  onBar(topic, bar, snapshot) {
    if (chart.selected === null || topic !== `${chart.selected.key}.bar_1s`) return;
    if (chart.barCount === 0) candlesLabel.textContent = CANDLES_LABEL;
    chart.addBar(bar, snapshot);
  },
  onStats(topic, stats) {
    market.applyStats(topic, stats);
  },
  onPending(topic) {
    const sel = chart.selected;
    if (sel !== null && topic === `${sel.key}.book`) bookState.textContent = 'no book for this instrument on this gateway (yet)';
    if (sel !== null && topic === `${sel.key}.bar_1s`)
      candlesLabel.textContent = '1-second bars from the gateway: none yet (no trades, or no bars for this instrument)';
    market.notePending(topic);
    const row = market.rowFor(topic);
    if (row?.unknown) {
      notices.show(
        'error',
        `${row.symbol}: no such instrument on this gateway (${[...row.pendingTopics].join(', ')} never had data); it stays in the watchlist and shows up if the gateway starts publishing it`,
        `unknown:${row.key}`,
      );
    }
  },
});

const stream: StreamClient = client;

rateSelect.addEventListener('change', () => {
  saved.maxRate = Number(rateSelect.value);
  stream.setWanted(wantedTopics(), saved.maxRate);
  persist();
});

addForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const parsed = parseEntry(addInput.value);
  if (typeof parsed === 'string') {
    addError.textContent = parsed;
    return;
  }
  if (entries.some((e) => e.text === parsed.text)) {
    addError.textContent = `${parsed.text} is already in the watchlist`;
    return;
  }
  addError.textContent = '';
  addInput.value = '';
  entries.push(parsed);
  applyEntries();
});
addInput.addEventListener('input', () => {
  addError.textContent = '';
});

// Sortable columns: click a header (again: reverse; a third time: watchlist order).
const headers = Array.from(document.querySelectorAll<HTMLTableCellElement>('#watchlist th[data-sort]'));
function paintSortHeaders(): void {
  for (const th of headers) {
    const active = th.dataset.sort === market.sortKey;
    th.setAttribute('aria-sort', active ? (market.sortDir === 1 ? 'ascending' : 'descending') : 'none');
  }
}
for (const th of headers) {
  th.tabIndex = 0;
  const sort = () => {
    const key = th.dataset.sort as SortKey;
    if (!(SORT_KEYS as readonly string[]).includes(key)) return;
    market.toggleSort(key);
    paintSortHeaders();
  };
  th.addEventListener('click', sort);
  th.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      sort();
    }
  });
}
paintSortHeaders();

// Keyboard: ↑ / ↓ move the selection (not while typing in the add box).
document.addEventListener('keydown', (ev) => {
  if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
  const target = ev.target as HTMLElement | null;
  if (target !== null && (target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.tagName === 'TEXTAREA')) return;
  const order = market.order;
  if (order.length === 0) return;
  ev.preventDefault();
  const at = chart.selected === null ? -1 : order.indexOf(chart.selected);
  const next = order[Math.min(order.length - 1, Math.max(0, at + (ev.key === 'ArrowDown' ? 1 : -1)))]!;
  select(next);
  document.querySelector(`#rows tr[data-key="${CSS.escape(next.key)}"]`)?.scrollIntoView({ block: 'nearest' });
});

renderEntries();
configureRateSelect();
stream.setWanted(wantedTopics(), saved.maxRate);
select((saved.selected !== null ? market.rows.get(saved.selected) : undefined) ?? market.order[0] ?? null);

// One DOM pass per animation frame; the status bar four times a second (ticks/s over the last second).
const tickSamples: number[] = []; // [time, ticksApplied, time, ticksApplied, ...]
let lastStatus = 0;
function frame(): void {
  const now = performance.timeOrigin + performance.now();
  watchlist.render(now);
  if (chart.selected === null && market.order.length > 0) select(market.order[0]!);
  chart.render();
  const sel = chart.selected;
  if (bookDirty && selectedBook !== null && sel !== null) {
    bookDirty = false;
    ladder.render(selectedBook.bids, selectedBook.asks, sel.decimals);
    bookState.textContent = `#${selectedBook.seq} · checksum verified`;
  }
  tape.render(sel);
  if (String(chart.barCount) !== candlesBox.dataset.bars) candlesBox.dataset.bars = String(chart.barCount);
  if (now - lastStatus >= 250) {
    lastStatus = now;
    market.resort();
    dayStats.render(sel);
    const unknown = sel?.unknown === true;
    detailMsg.hidden = !unknown;
    if (unknown) detailMsg.textContent = `No such instrument on this gateway: ${[...sel!.pendingTopics].join(', ')} never had data.`;
    tickSamples.push(now, market.ticksApplied);
    while (tickSamples.length > 4 && tickSamples[2]! <= now - 1000) tickSamples.splice(0, 2);
    const dt = now - tickSamples[0]!;
    const ticksPerSecond = dt > 0 ? ((market.ticksApplied - tickSamples[1]!) * 1000) / dt : 0;
    status.paint(now, stream.reconnects, ticksPerSecond, watchlist.latency);
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
window.addEventListener('pagehide', () => stream.close());
