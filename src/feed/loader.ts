import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FeedDefinition } from './adapter.ts';

/**
 * Loads a third-party adapter for a config entry `{"module": "<specifier>", ...}`.
 *
 * - A path (`./x.js`, `../x.ts`, `/abs/x.js`, `file:` URL) is resolved against `baseDir`
 *   (GatewayDeps.moduleBaseDir: meant to be the config file's directory; default the current directory).
 *   `.ts` files load when the gateway runs under tsx (`npm start`, the `tickgate` bin) or vitest.
 * - Anything else is a package name (`tickgate-feed-kraken`, `@acme/feeds/kraken`), resolved by
 *   Node from where tickgate is installed, as `import()` does.
 *
 * The module must export a FeedDefinition (what `defineFeed` returns) as its default export or
 * as a named export `feed`. Its shape is checked here; its options are validated by the gateway
 * with the definition's own schema, exactly like a built-in adapter's.
 *
 * Errors are thrown as plain Errors with a one-line message (the gateway prefixes the config key).
 */
export async function loadFeedModule(specifier: string, baseDir: string): Promise<FeedDefinition<never>> {
  const isPath = specifier.startsWith('.') || specifier.startsWith('file:') || isAbsolute(specifier);
  let target = specifier;
  if (isPath) {
    const file = specifier.startsWith('file:') ? new URL(specifier).pathname : resolve(baseDir, specifier);
    if (!existsSync(file)) throw new Error(`cannot load "${specifier}": no file at ${file}`);
    target = pathToFileURL(file).href;
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(target)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (!isPath && (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && e.message.includes(`'${specifier}'`)) {
      throw new Error(`cannot load "${specifier}": no such package is installed (npm install ${specifier})`, { cause: err });
    }
    throw new Error(`cannot load "${specifier}": ${firstLine(e.message ?? String(err))}`, { cause: err });
  }
  const candidate = mod.default !== undefined ? mod.default : mod.feed;
  if (candidate === undefined) {
    throw new Error(
      `"${specifier}" has no default export and no export named "feed"; export the result of defineFeed({ name, description, optionsSchema, create })`,
    );
  }
  const problem = feedDefinitionProblem(candidate);
  if (problem !== null) throw new Error(`"${specifier}" does not export a feed definition: ${problem}`);
  return candidate as FeedDefinition<never>;
}

/** Null when `value` has the shape of a FeedDefinition, else what is wrong with it. */
export function feedDefinitionProblem(value: unknown): string | null {
  if (value === null || typeof value !== 'object')
    return `expected an object made by defineFeed(), got ${value === null ? 'null' : typeof value}`;
  const d = value as Record<string, unknown>;
  if (typeof d.name !== 'string' || d.name === '') return '"name" must be a non-empty string';
  if (typeof d.description !== 'string') return '"description" must be a string';
  if (typeof d.create !== 'function') return '"create" must be a function (options) => FeedAdapter';
  const schema = d.optionsSchema as { safeParse?: unknown } | null | undefined;
  if (schema === null || typeof schema !== 'object' || typeof schema.safeParse !== 'function') {
    return '"optionsSchema" must be a zod schema (anything with safeParse(value) → {success, data | error})';
  }
  return null;
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? s;
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
