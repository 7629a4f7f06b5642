import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const PINNED_SHA256 = 'f4fa5d7b697529b45ac8aa3d57385d9af51bc1d2b26aa9f5b68ca4361542e665';
const binaryName = 'uws_linux_x64_115.node';
const applies = process.platform === 'linux' && process.arch === 'x64' && process.versions.modules === '115';
const reason = `the pinned binary is ${binaryName} (linux-x64, Node 20 ABI 115); this is ${process.platform}-${process.arch} ABI ${process.versions.modules}`;
if (!applies) console.warn(`skipping uWS binary check: ${reason}`);

describe('uWebSockets.js binary', () => {
  it.skipIf(!applies)(`is the pinned ${binaryName} (${applies ? 'checked' : reason})`, () => {
    const pkgDir = dirname(createRequire(import.meta.url).resolve('uWebSockets.js/package.json'));
    const file = join(pkgDir, binaryName);
    expect(existsSync(file)).toBe(true);
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(sha).toBe(PINNED_SHA256);
  });
});
