/**
 * What the dashboard remembers in localStorage: the watchlist, the max rate and the selected row.
 * Anything unreadable falls back to the defaults; storage being unavailable (private mode,
 * disabled) only means nothing is remembered.
 */
import { DEFAULT_WATCHLIST, parseEntry } from './instruments.ts';

export const STORAGE_KEY = 'tickgate.dashboard.v1';

export interface Saved {
  watchlist: string[];
  maxRate: number;
  selected: string | null;
}

export function defaults(): Saved {
  return { watchlist: [...DEFAULT_WATCHLIST], maxRate: 0, selected: null };
}

export function loadSaved(storage: Pick<Storage, 'getItem'> | null): Saved {
  const fallback = defaults();
  let raw: string | null = null;
  try {
    raw = storage?.getItem(STORAGE_KEY) ?? null;
  } catch {
    return fallback;
  }
  if (raw === null) return fallback;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return fallback;
  }
  if (typeof v !== 'object' || v === null) return fallback;
  const o = v as Record<string, unknown>;
  const watchlist = Array.isArray(o.watchlist)
    ? o.watchlist.filter((e): e is string => typeof e === 'string' && typeof parseEntry(e) !== 'string')
    : fallback.watchlist;
  const maxRate = typeof o.maxRate === 'number' && Number.isFinite(o.maxRate) && o.maxRate >= 0 ? o.maxRate : 0;
  const selected = typeof o.selected === 'string' ? o.selected : null;
  return { watchlist, maxRate, selected };
}

export function save(storage: Pick<Storage, 'setItem'> | null, saved: Saved): void {
  try {
    storage?.setItem(STORAGE_KEY, JSON.stringify(saved));
  } catch {
    // Quota or disabled storage: the session still works, it is just not remembered.
  }
}
