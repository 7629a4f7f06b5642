/**
 * The house rules of the import graph (README "Architecture"), read from the sources:
 * - src/ never imports feeds/: the built-in feed list is handed to the composition roots
 *   (src/gateway.ts, src/ingest.ts) by whoever starts them. Only the entry points may name it:
 *   the CLI command layer (src/commands/) and the package entry (src/index.ts), and only
 *   feeds/index.ts.
 * - Adapters in feeds/ use the feed interface and the shared core (src/core/, src/feed/adapter.ts,
 *   src/feed.ts, and the recording format in src/record/), never the bus, transport or gateway.
 * - No import cycles among the files of src/ (type-only imports included: a cycle of types is
 *   still two modules that cannot be understood apart).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Relative specifiers of static imports/re-exports and of dynamic import('...') with a literal. */
function relativeImports(source: string): string[] {
  const specifiers: string[] = [];
  const statics = /^\s*(?:import|export)\b[^'";]*?(?:\bfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/gm;
  const dynamics = /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
  for (const m of source.matchAll(statics)) specifiers.push(m[1]!);
  for (const m of source.matchAll(dynamics)) specifiers.push(m[1]!);
  return specifiers;
}

/** file (relative to the repository) -> the repository-relative files it imports. */
function importGraph(dir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(dir)) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    graph.set(
      file,
      relativeImports(text).map((s) => relative(ROOT, resolve(ROOT, dirname(file), s))),
    );
  }
  return graph;
}

/** Strongly connected components with more than one file (Tarjan), each sorted. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const isTest = (file: string) => /\.test\.ts$|\.conformance\.ts$|\/testing\.ts$/.test(file);

/** A file in src/ longer than this says at its top why (README "Layout"). */
const MAX_LINES = 400;
const SIZE_REASON = 'Why this file is over 400 lines:';

describe('file sizes', () => {
  it(`keeps files in src/ under ${MAX_LINES} lines, or says at the top why not`, () => {
    const unexplained = tsFiles('src')
      .map((file) => ({ file, text: readFileSync(join(ROOT, file), 'utf8') }))
      .filter(({ text }) => text.split('\n').length > MAX_LINES && !text.split('\n').slice(0, 10).join('\n').includes(SIZE_REASON))
      .map(({ file }) => file);
    expect(unexplained).toEqual([]);
  });
});

describe('the import graph', () => {
  const src = importGraph('src');

  it('finds the imports it checks (the scanner is not blind)', () => {
    expect(
      relativeImports(
        "import { a } from './a.ts';\nimport type { B } from '../b.ts';\nexport { c } from './c.ts';\nimport './side.ts';\nconst m = await import('./lazy.ts');",
      ),
    ).toEqual(['./a.ts', '../b.ts', './c.ts', './side.ts', './lazy.ts']);
    expect(src.get('src/gateway.ts')).toContain('src/feed/fleet.ts');
    expect(
      cycles(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
          ['d', ['a']],
        ]),
      ),
    ).toEqual([['a', 'b', 'c']]);
  });

  it('src/ never imports feeds/, except the entry points, which name only feeds/index.ts', () => {
    const offending: string[] = [];
    for (const [file, deps] of src) {
      const entryPoint = file.startsWith('src/commands/') || file === 'src/index.ts';
      for (const dep of deps) {
        if (!dep.startsWith('feeds/')) continue;
        if (entryPoint && dep === 'feeds/index.ts') continue;
        offending.push(`${file} -> ${dep}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('feed adapters import only the feed interface, the core and the recording format from src/', () => {
    const allowed = (dep: string) =>
      dep.startsWith('src/core/') || dep.startsWith('src/record/') || dep === 'src/feed/adapter.ts' || dep === 'src/feed.ts';
    const offending: string[] = [];
    for (const [file, deps] of importGraph('feeds')) {
      if (isTest(file)) continue;
      for (const dep of deps) if (dep.startsWith('src/') && !allowed(dep)) offending.push(`${file} -> ${dep}`);
    }
    expect(offending).toEqual([]);
  });

  it('has no import cycles in src/', () => {
    expect(cycles(src)).toEqual([]);
  });
});
