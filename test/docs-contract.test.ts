import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config/schema.ts';
import { ALL_ERROR_CODES } from '../src/core/errors.ts';
import { MAX_TOPIC_LENGTH } from '../src/core/topic.ts';
import { MAX_DEPTH } from '../src/protocol/codec.ts';
import { MAX_ID_LENGTH, MAX_RESUME_POSITIONS, MAX_TOPICS_PER_REQUEST } from '../src/protocol/requests.ts';
import { HELD_FRAME_BYTES, HELD_TICK_BYTES, MAX_TIMER_MS } from '../src/transport/delayed.ts';
import { MAX_REPLAY_TICKS_PER_REQUEST } from '../src/transport/server.ts';
import { quote, startGateway, TestClient, type Started } from './helpers.ts';

/**
 * The docs are the contract: every limit, default and error code that docs/protocol.md,
 * docs/security.md and README.md state is checked here against the code (as fastify checks its
 * error codes against its docs), so the next drift fails `npm test`.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const read = (p: string) => readFileSync(`${root}${p}`, 'utf8');
const DOCS = { 'docs/protocol.md': read('docs/protocol.md'), 'docs/security.md': read('docs/security.md'), 'README.md': read('README.md') };
const protocol = DOCS['docs/protocol.md'];
// With the optional sections present, so their defaults (auth.jwt.*) can be checked too.
const defaults = configSchema.parse({ auth: { jwt: { secret: 'x'.repeat(32) } } }) as unknown as Record<string, unknown>;

/** The default of a dotted config key, or undefined if there is no such key (or it has no default). */
function defaultOf(key: string): unknown {
  let v: unknown = defaults;
  for (const part of key.split('.')) {
    if (v === null || typeof v !== 'object' || !(part in v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

const UNITS: Record<string, number> = { KiB: 1024, MiB: 1_048_576, GiB: 1_073_741_824 };
/** The first number in a doc phrase, in base units: "262 144 bytes" → 262144, "1 MiB" → 1048576, "10,000" → 10000. */
function firstNumber(text: string): number | undefined {
  const m = /(\d{1,3}(?:[ ,\u202f]\d{3})+|\d+)(?:\s*(KiB|MiB|GiB))?/.exec(text);
  if (!m) return undefined;
  return Number(m[1]!.replace(/[ ,\u202f]/g, '')) * (m[2] ? UNITS[m[2]]! : 1);
}

/** A stated value for `key` in its unit: "2 s" for a key ending in Ms is 2000. */
function statedValue(key: string, text: string): number | undefined {
  const n = firstNumber(text);
  if (n === undefined || !key.endsWith('Ms')) return n;
  const unit = /^\D*?(?:\d{1,3}(?:[ ,\u202f]\d{3})+|\d+)\s*(ms|s|min|h)\b/.exec(text)?.[1];
  return n * (unit === 's' ? 1000 : unit === 'min' ? 60_000 : unit === 'h' ? 3_600_000 : 1);
}

/** Markdown table rows of a document section: cells, trimmed. */
function rows(section: string): string[][] {
  return section
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[-| ]+\|$/.test(l))
    .map((l) =>
      l
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    );
}

function section(doc: string, heading: string): string {
  const start = doc.indexOf(`\n${heading}`);
  expect(start, `section "${heading}"`).toBeGreaterThan(0);
  const next = doc.indexOf('\n## ', start + heading.length + 1);
  return doc.slice(start, next < 0 ? undefined : next);
}

describe('error codes', () => {
  it('every TG_ERR_* code the docs mention exists in src/core/errors.ts', () => {
    for (const [file, text] of Object.entries(DOCS)) {
      for (const [code, family] of text.matchAll(/TG_ERR_[A-Z][A-Z_]*(\*)?/g)) {
        // `TG_ERR_INVALID_*` names a family: at least one code must start with it.
        if (family)
          expect(
            ALL_ERROR_CODES.some((c) => c.startsWith(code.slice(0, -1))),
            `${file}: ${code}`,
          ).toBe(true);
        else expect(ALL_ERROR_CODES, `${file}: ${code}`).toContain(code);
      }
    }
  });

  it('every code in src/core/errors.ts has a row in the error table of docs/protocol.md §9', () => {
    const table = section(protocol, '## 9. Error codes');
    for (const code of ALL_ERROR_CODES) expect(table, code).toContain(`| \`${code}\` |`);
  });
});

describe('config defaults', () => {
  it('every "`key` (default …)" the docs state is the schema default', () => {
    let checked = 0;
    for (const [file, text] of Object.entries(DOCS)) {
      for (const m of text.matchAll(/`([a-z][a-zA-Z]*(?:\.[a-zA-Z]+)+)` \((?:default )?([^)]*)\)/g)) {
        const value = defaultOf(m[1]!);
        if (typeof value !== 'number') continue;
        // Only parentheticals that state a value: "(2000)", "(default 5000 ms; …)", "(1 MiB)"; not "(0: off)".
        if (!/^(default )?\d[\d ,]*(\s*(KiB|MiB|GiB|ms|s|bytes))?([,;)].*)?$/.test(m[2]!)) continue;
        const stated = statedValue(m[1]!, m[2]!);
        expect(stated, `${file}: ${m[0]}`).toBe(value);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it("the README's configuration table matches the schema defaults", () => {
    let checked = 0;
    for (const [key, value] of rows(section(DOCS['README.md'], '## Configuration')).map((r) => [r[0], r[1]] as const)) {
      const k = /^`([a-zA-Z.]+)`$/.exec(key ?? '')?.[1];
      const v = /^`(.*)`$/.exec(value ?? '')?.[1];
      if (k === undefined || v === undefined) continue;
      const expected = defaultOf(k);
      expect(expected, `README: no default for ${k}`).toBeDefined();
      expect(typeof expected === 'string' ? v : JSON.parse(v), `README: ${k}`).toEqual(expected);
      checked++;
    }
    expect(checked).toBeGreaterThan(25);
  });

  it('the limit tables of docs/protocol.md (§4 and §16.4) match the schema defaults', () => {
    let checked = 0;
    // [table, column naming the config key (the last key in it counts), column with the default]
    const tables = [
      [section(protocol, '## 4. Limits'), 2, 1],
      [section(protocol, '## 16. Authentication'), 0, 1],
    ] as const;
    for (const [text, keyColumn, defaultColumn] of tables) {
      for (const row of rows(text)) {
        const keys = [...(row[keyColumn] ?? '').matchAll(/`([a-z][a-zA-Z]*\.[a-zA-Z.]+)`/g)]
          .map((m) => m[1]!)
          .filter((k) => defaultOf(k) !== undefined);
        if (keys.length === 0) continue;
        const expected = defaultOf(keys.at(-1)!);
        const cell = row[defaultColumn]!;
        if (Array.isArray(expected))
          expect(expected.length === 0 ? /^empty/.test(cell) : (cell.match(/\d+/g) ?? []).map(Number), row[0]).toEqual(
            expected.length === 0 ? true : expected,
          );
        else if (typeof expected === 'number') expect(statedValue(keys.at(-1)!, cell), row[0]).toBe(expected);
        else continue;
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});

describe('protocol constants', () => {
  it('§4 states the fixed limits of the code', () => {
    const limits = rows(section(protocol, '## 4. Limits'));
    const byName = (prefix: string) => limits.find((r) => r[0]!.startsWith(prefix))![1]!;
    expect(firstNumber(byName('Topic or pattern length'))).toBe(MAX_TOPIC_LENGTH);
    expect(firstNumber(byName("Entries in one request's `topics`"))).toBe(MAX_TOPICS_PER_REQUEST);
    expect(firstNumber(byName('String `id` length'))).toBe(MAX_ID_LENGTH);
    expect(firstNumber(byName("Entries in one request's `resume`"))).toBe(MAX_RESUME_POSITIONS);
    expect(firstNumber(byName('Ticks replayed by one subscribe'))).toBe(MAX_REPLAY_TICKS_PER_REQUEST);
    expect(firstNumber(byName('Nesting of a binary'))).toBe(MAX_DEPTH);
  });

  it('every statement of the resume-positions limit says the same number', () => {
    const stated = [
      ...protocol.matchAll(/(\d{1,3}(?: \d{3})*|\d+) `?resume`? (?:entries|positions)/g),
      ...protocol.matchAll(/`resume`[^|\n]*?(?:at most|more than) (\d{1,3}(?: \d{3})*|\d+) entries/g),
    ].map((m) => Number(m[1]!.replace(/ /g, '')));
    expect(stated.length).toBeGreaterThanOrEqual(4);
    for (const n of stated) expect(n).toBe(MAX_RESUME_POSITIONS);
  });

  it('every example welcome frame shows the default limits', () => {
    const maxMessageBytes = (defaults.transport as { maxMessageBytes: number }).maxMessageBytes;
    const maxSubs = (defaults.transport as { maxSubscriptionsPerConnection: number }).maxSubscriptionsPerConnection;
    for (const [file, text] of Object.entries(DOCS)) {
      for (const m of text.matchAll(/"maxMessageBytes":(\d+)/g)) expect(Number(m[1]), file).toBe(maxMessageBytes);
      for (const m of text.matchAll(/"maxSubscriptions":(\d+)/g)) expect(Number(m[1]), file).toBe(maxSubs);
    }
    // The annotated bytes of §12.2 encode the same number.
    expect(section(protocol, '## 12. Worked examples')).toContain(`uint32 ${maxMessageBytes}`);
  });
});

describe('delayed tier', () => {
  it('docs/security.md states the estimate the delay lines use and the timer chunk', () => {
    const sec = DOCS['docs/security.md'];
    expect(sec).toContain(`estimated at ${HELD_TICK_BYTES} bytes per held tick plus ${HELD_FRAME_BYTES} per held frame`);
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1);
    expect(sec).toContain('chunks of at most 2^31−1 ms');
  });
});

describe('security checklist', () => {
  it('every test the checklist in docs/security.md names exists', () => {
    const checklist = section(DOCS['docs/security.md'], '## Security checklist');
    const named = [...checklist.matchAll(/`(test\/[\w-]+\.test\.ts)`((?: › "[^"]+"(?:, "[^"]+")*;?)*)/g)];
    expect(named.length).toBeGreaterThan(10);
    for (const [, file, names] of named) {
      const source = read(file!);
      for (const [, name] of names!.matchAll(/"([^"]+)"/g)) {
        const prefix = name!.split(/…|%s/)[0]!.trim();
        expect(source, `${file} › ${name}`).toContain(prefix);
      }
    }
  });
});

describe('behaviour the docs describe', () => {
  let s: Started | null = null;
  afterEach(async () => {
    await s?.gw.stop();
    s = null;
  });

  it('the welcome frame and /v1/topics look like the examples in docs/protocol.md (statusReason of a never-stale topic)', async () => {
    s = await startGateway();
    const c = await TestClient.connect(`${s.stream}?format=json`);
    const welcome = await c.waitFor((f) => f.t === 'welcome');
    const example = JSON.parse(/\{"t":"welcome"[^\n]*\}/.exec(section(protocol, '## 12. Worked examples'))![0]) as Record<string, unknown>;
    for (const key of ['v', 'maxMessageBytes', 'maxSubscriptions', 'rateTiers']) expect(welcome[key], key).toEqual(example[key]);
    await c.close();

    s.gw.bus.publish(quote('fx.EURUSD.quote', 1.08), 'doc');
    s.gw.bus.flush();
    const listed = ((await (await fetch(`${s.http}/v1/topics`)).json()) as { topics: Record<string, unknown>[] }).topics[0]!;
    const doc = /\{"epoch":\d+,"count":1,"topics":\[(\{[^\]]*"status":"live"[^\]]*\})\]\}/.exec(section(protocol, '## 11. HTTP API'))!;
    const documented = JSON.parse(doc[1]!) as Record<string, unknown>;
    expect(Object.keys(listed).sort()).toEqual(Object.keys(documented).sort());
    expect(listed.statusReason).toBe(documented.statusReason);
  });

  it('README: a restarted gateway rebinds its port at once, even with connections of the old one in TIME_WAIT', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    s = await startGateway({ port });
    // A keep-alive HTTP connection the gateway closes itself on stop leaves TIME_WAIT on its side.
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => res.resume().on('end', resolve)).on('error', reject),
    );
    await s.gw.stop();
    agent.destroy();
    s = await startGateway({ port });
    expect((await fetch(`${s.http}/healthz`)).status).toBe(200);
    expect(DOCS['README.md']).not.toMatch(/cannot bind the old\s+one's port/);
  });
});
