/** Median and spread over repeats. */
export interface Agg {
  median: number;
  min: number;
  max: number;
  n: number;
  /** Half the min–max range as a percentage of the median. */
  spreadPct: number;
}

export function agg(values: readonly number[]): Agg {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0, spreadPct: NaN };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  const min = v[0]!;
  const max = v[v.length - 1]!;
  return { median, min, max, n: v.length, spreadPct: median !== 0 ? ((max - min) / 2 / Math.abs(median)) * 100 : 0 };
}

/** 1234567 → "1.23M", 45678 → "45.7k". */
export function si(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toPrecision(digits)}G`;
  if (a >= 1e6) return `${(x / 1e6).toPrecision(digits)}M`;
  if (a >= 1e3) return `${(x / 1e3).toPrecision(digits)}k`;
  return x.toPrecision(digits).replace(/\.0+$/, '');
}

export function fixed(x: number, decimals = 1): string {
  return Number.isFinite(x) ? x.toFixed(decimals) : '–';
}

/** Milliseconds with about three significant digits. */
export function ms(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

export function ratio(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (x >= 100) return `${x.toFixed(0)}×`;
  if (x >= 10) return `${x.toFixed(1)}×`;
  return `${x.toFixed(2)}×`;
}

export function kb(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(2)} KB` : '–';
}

export function withSpread(a: Agg, fmt: (x: number) => string): string {
  if (a.n <= 1 || !Number.isFinite(a.spreadPct)) return fmt(a.median);
  return `${fmt(a.median)} ±${a.spreadPct.toFixed(0)}%`;
}
