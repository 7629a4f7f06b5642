import type client from 'prom-client';

/**
 * A label-less histogram for the tick path. prom-client's `observe` hashes labels and validates
 * on every call (18% of ingest CPU when observed per tick); this one is a bucket search and
 * three additions. It plugs into a prom-client Registry as a custom metric (`get()` in
 * prom-client's value format), so the exposition is the standard one.
 */
export class FastHistogram {
  readonly type = 'histogram';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
  ) {
    this.counts = new Float64Array(upperBounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count++;
  }

  get countValue(): number {
    return this.count;
  }

  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: client.MetricValueWithName<string>[] } {
    const values: client.MetricValueWithName<string>[] = [];
    let cumulative = 0;
    this.upperBounds.forEach((le, i) => {
      cumulative += this.counts[i]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { le }, value: cumulative });
    });
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  register(registry: client.Registry): this {
    registry.registerMetric(this as unknown as client.Metric);
    return this;
  }
}
