import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { defineFeed } from '../../src/feed/adapter.ts';
import { ReplayAdapter } from './adapter.ts';

export { ReplayAdapter } from './adapter.ts';
export type { ReplayAdapterOptions, ReplayStats } from './adapter.ts';

/**
 * A path to a file, or to a directory whose files (not starting with ".") are played in name
 * order — the order rotated recordings are named in. Relative paths start at the current directory.
 */
function expandPath(path: string): string[] | string {
  const abs = resolve(path);
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(abs);
  } catch (err) {
    return `cannot read ${abs}: ${(err as NodeJS.ErrnoException).code ?? String(err)} (relative paths start at the current directory, ${process.cwd()})`;
  }
  if (!stat.isDirectory()) return [abs];
  const files = readdirSync(abs, { withFileTypes: true })
    .filter((d) => d.isFile() && !d.name.startsWith('.'))
    .map((d) => join(abs, d.name))
    .sort();
  return files.length > 0 ? files : `directory ${abs} holds no files`;
}

const SPEED_ERROR = 'must be a positive number (1 = original pace, 10 = ten times faster) up to 100000, or "max"';

export const replayOptionsSchema = z
  .strictObject({
    /** A recording (.msgpack[.gz]), CSV or NDJSON file, a directory of them, or a list played in order. */
    file: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
      error: 'must be a file path or a non-empty list of file paths',
    }),
    /** `auto`: by extension (.csv, .ndjson/.jsonl, else MessagePack); gzip is detected from the content. */
    format: z.enum(['auto', 'msgpack', 'csv', 'ndjson']).default('auto'),
    /** 1 = original pace, 10 = ten times faster, 0.5 = half speed, "max" = as fast as possible. */
    speed: z
      .union([z.number().positive({ error: SPEED_ERROR }).max(100_000, { error: SPEED_ERROR }), z.literal('max')], { error: SPEED_ERROR })
      .default(1),
    /** Start again from the first tick after the last one. */
    loop: z.boolean().default(false),
    /** Most ticks emitted in one event-loop turn before yielding. */
    burstSize: z.int().min(1, { error: 'must be at least 1' }).max(1_000_000, { error: 'must be at most 1000000' }).default(1000),
    /** Paced replay: longer pauses between recorded ticks (after speed-up) are cut to this many ms. */
    maxGapMs: z.number().positive({ error: 'must be positive' }).optional(),
  })
  .transform((o, ctx) => {
    const files: string[] = [];
    const paths = typeof o.file === 'string' ? [o.file] : o.file;
    paths.forEach((p, i) => {
      const expanded = expandPath(p);
      if (typeof expanded === 'string') {
        ctx.addIssue({ code: 'custom', path: typeof o.file === 'string' ? ['file'] : ['file', i], message: expanded });
      } else {
        files.push(...expanded);
      }
    });
    return { files, format: o.format, speed: o.speed, loop: o.loop, burstSize: o.burstSize, maxGapMs: o.maxGapMs };
  });

export type ReplayOptions = z.output<typeof replayOptionsSchema>;

export const replayFeed = defineFeed<ReplayOptions>({
  name: 'replay',
  description:
    'Replays recorded ticks (tickgate recordings, CSV, NDJSON; gzip or plain) at original pace, N× or max speed, optionally looping',
  optionsSchema: replayOptionsSchema,
  create: (options) => new ReplayAdapter(options),
});
