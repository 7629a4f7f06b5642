import { Worker } from 'node:worker_threads';
import client from 'prom-client';
import type { Logger } from 'pino';
import type { BusSink, EncodedBatch, TopicBus, TopicView } from '../bus/bus.ts';
import { isWarmableBus } from '../bus/warmable.ts';
import type { ApiKeyConfig } from '../config/security-schema.ts';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { NatsState } from '../transport/health.ts';
import type { MainToWorker, PrimedTopic, WorkerInit, WorkerToMain } from './messages.ts';

interface Thread {
  readonly worker: Worker;
  readonly id: number;
  /** Entries (topics, patterns) this thread's clients hold. */
  readonly interest: Set<string>;
}

/**
 * The main thread's side of `--workers N`: starts N-1 worker threads (the main thread serves too),
 * copies each bus flush once into a SharedArrayBuffer that every worker reads, merges client
 * interest from all threads for the feeds, and answers /metrics with the sum over threads.
 */
export class WorkerPool implements BusSink {
  private readonly threads: Thread[] = [];
  /** Frames of the current flush, posted in one message at the next microtask. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private readonly postPending = () => this.post();
  private nextCollect = 0;
  private readonly collects = new Map<number, (json: unknown[]) => void>();
  /** Entry → number of threads holding it (the main thread counts as one). */
  private readonly interestCount = new Map<string, number>();
  private readonly mainInterest = new Set<string>();

  constructor(
    private readonly config: Config,
    private readonly local: BusSink,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly onInterest: (entry: string, interested: boolean) => void,
  ) {}

  /** Starts the worker threads on `port`; resolves when all of them listen. */
  async start(port: number, epoch: number, version: string): Promise<void> {
    // From the sources (tsx, vitest) the worker needs the TypeScript loader; compiled, it is plain JS.
    const compiled = import.meta.url.endsWith('.js');
    const entry = new URL(compiled ? './worker-main.js' : './worker-main.ts', import.meta.url).href;
    const starts: Promise<void>[] = [];
    for (let id = 1; id < this.config.workers; id++) {
      const init: WorkerInit = { entry, workerId: id, port, config: this.config, epoch, version };
      const worker = new Worker(compiled ? new URL(entry) : new URL('./bootstrap.mjs', import.meta.url), { workerData: init });
      const thread: Thread = { worker, id, interest: new Set() };
      this.threads.push(thread);
      starts.push(
        new Promise((resolve, reject) => {
          worker.once('error', reject);
          worker.on('message', (m: WorkerToMain) => {
            if (m.type === 'ready') resolve();
            this.onMessage(thread, m);
          });
          worker.once('exit', (code) => reject(new Error(`worker ${id} exited with code ${code} before listening`)));
        }),
      );
    }
    await Promise.all(starts);
    for (const t of this.threads) {
      t.worker.removeAllListeners('error');
      t.worker.on('error', (err) => this.logger.error({ err, worker: t.id }, 'worker thread failed'));
    }
  }

  // ---- bus sink: publish here, queue for the workers --------------------------------

  onTopic(view: TopicView): void {
    this.local.onTopic(view);
  }

  // Gaps and resets: each worker's RelayBus sees the same frames and reports them to its own clients.
  onGap(view: TopicView, from: number, to: number): void {
    this.local.onGap?.(view, from, to);
  }

  onReset(view: TopicView, epoch: number): void {
    this.local.onReset?.(view, epoch);
  }

  /** The upstream epoch changed (NATS): workers adopt it now, before the frames of the new epoch. */
  onEpoch(epoch: number): void {
    this.local.onEpoch?.(epoch);
    this.broadcast({ type: 'epoch', epoch });
  }

  onBatch(batch: EncodedBatch): void {
    this.local.onBatch(batch);
    if (this.threads.length === 0) return;
    if (this.pending.length === 0) queueMicrotask(this.postPending);
    // `packed` is a view into a reused encode buffer: copy it now.
    this.pending.push(batch.packed.slice());
    this.pendingBytes += 4 + batch.packed.byteLength;
  }

  private post(): void {
    if (this.pending.length === 0) return; // already posted early (see answerWarm)
    const buffer = new SharedArrayBuffer(this.pendingBytes);
    const bytes = new Uint8Array(buffer);
    const view = new DataView(buffer);
    let off = 0;
    for (const frame of this.pending) {
      view.setUint32(off, frame.byteLength, true);
      bytes.set(frame, off + 4);
      off += 4 + frame.byteLength;
    }
    const message: MainToWorker = { type: 'frames', buffer, length: off };
    for (const t of this.threads) t.worker.postMessage(message);
    this.pending = [];
    this.pendingBytes = 0;
  }

  // ---- interest, feeds, keys -------------------------------------------------------

  /** Interest from the main thread's own transport. */
  mainInterestChanged(entry: string, interested: boolean): void {
    if (interested) this.mainInterest.add(entry);
    else this.mainInterest.delete(entry);
    this.count(entry, interested);
  }

  entries(): string[] {
    return [...this.interestCount.keys()];
  }

  private count(entry: string, interested: boolean): void {
    const n = (this.interestCount.get(entry) ?? 0) + (interested ? 1 : -1);
    if (n > 0) this.interestCount.set(entry, n);
    else this.interestCount.delete(entry);
    if (interested && n === 1) this.onInterest(entry, true);
    if (!interested && n === 0) this.onInterest(entry, false);
  }

  feedChanged(feedId: string, up: boolean, states: Record<string, string>): void {
    this.broadcast({ type: 'feed', feedId, up, states });
  }

  /** The main thread's NATS connection, for every thread's /healthz. */
  natsChanged(state: NatsState): void {
    this.broadcast({ type: 'nats', state });
  }

  apiKeys(keys: ApiKeyConfig[]): void {
    this.broadcast({ type: 'apiKeys', keys });
  }

  disconnectAll(code: number, reason: string): void {
    this.broadcast({ type: 'disconnect', code, reason });
  }

  private broadcast(m: MainToWorker): void {
    for (const t of this.threads) t.worker.postMessage(m);
  }

  // ---- metrics: the sum over threads -------------------------------------------------

  async renderMetrics(): Promise<string> {
    const own = await this.metrics.registry.getMetricsAsJSON();
    const others = await Promise.all(
      this.threads.map(
        (t) =>
          new Promise<unknown[]>((resolve) => {
            const id = ++this.nextCollect;
            const timer = setTimeout(() => {
              this.collects.delete(id);
              resolve([]); // a stuck worker must not block scrapes
            }, 2000);
            this.collects.set(id, (json) => {
              clearTimeout(timer);
              resolve(json);
            });
            t.worker.postMessage({ type: 'collect', id } satisfies MainToWorker);
          }),
      ),
    );
    const aggregated = client.AggregatorRegistry.aggregate([own, ...others] as Parameters<typeof client.AggregatorRegistry.aggregate>[0]);
    return aggregated.metrics();
  }

  private onMessage(thread: Thread, m: WorkerToMain): void {
    switch (m.type) {
      case 'interest':
        if (m.interested) thread.interest.add(m.entry);
        else thread.interest.delete(m.entry);
        this.count(m.entry, m.interested);
        break;
      case 'warm':
        void this.answerWarm(thread, m);
        break;
      case 'collected':
        this.collects.get(m.id)?.(m.metrics);
        this.collects.delete(m.id);
        break;
      case 'metrics?':
        void this.renderMetrics().then((text) => thread.worker.postMessage({ type: 'metrics', id: m.id, text } satisfies MainToWorker));
        break;
      default:
        break;
    }
  }

  /** The bus the main thread relays from, for worker `warm` requests (set by the composition root). */
  warmFrom: TopicBus | null = null;

  /**
   * A worker's client subscribes to topics that thread holds no state for (JetStream mode): the
   * main thread's bus reads them from the stream (or has them live), then the thread gets each
   * topic's held ticks. Frames already queued for the workers are posted first, so the state sent
   * is never older than what the thread has relayed (one ordered channel per thread).
   */
  private async answerWarm(thread: Thread, m: Extract<WorkerToMain, { type: 'warm' }>): Promise<void> {
    const bus = this.warmFrom;
    const topics: PrimedTopic[] = [];
    if (bus !== null && isWarmableBus(bus)) {
      const resume = new Map(m.resume);
      await bus.warm(m.topics, resume, m.snapshot);
      this.post();
      for (const topic of new Set([...m.topics, ...resume.keys()])) {
        const view = bus.topic(topic);
        if (view?.last === undefined) continue;
        topics.push({ topic, feedId: view.feedId, epoch: bus.epoch, ticks: bus.heldTicks(topic) });
      }
    }
    thread.worker.postMessage({ type: 'warmed', id: m.id, topics } satisfies MainToWorker);
  }

  /** Closes every worker's clients with 1001 and waits for the threads to exit. */
  async stop(): Promise<void> {
    await Promise.all(
      this.threads.map(async (t) => {
        const exited = new Promise<void>((resolve) => t.worker.once('exit', () => resolve()));
        const closed = new Promise<void>((resolve) => {
          t.worker.on('message', (m: WorkerToMain) => m.type === 'closed' && resolve());
        });
        t.worker.postMessage({ type: 'shutdown' } satisfies MainToWorker);
        await Promise.race([closed, new Promise((r) => setTimeout(r, this.config.transport.closeGraceMs + 1000))]);
        await t.worker.terminate();
        await exited;
      }),
    );
    for (const t of this.threads) for (const entry of t.interest) this.count(entry, false);
    this.threads.length = 0;
  }
}
