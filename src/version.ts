import { existsSync, readFileSync } from 'node:fs';

// src/version.ts from the sources, dist/src/version.js compiled: package.json is one or two levels up.
const here = new URL('../package.json', import.meta.url);
const packageJson = existsSync(here) ? here : new URL('../../package.json', import.meta.url);

/** The package version, read once from package.json. */
export const VERSION: string = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
