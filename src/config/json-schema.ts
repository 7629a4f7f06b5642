import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { configSchema } from './schema.ts';

/**
 * The JSON Schema of the config file, generated from the zod schema so the two cannot drift
 * (test/config-command.test.ts compares the committed file with this output). Editors use it
 * through the `$schema` key that `tickgate config init` writes. Regenerate after changing
 * src/config/schema.ts: `npm run build:config-schema`.
 */
export const CONFIG_JSON_SCHEMA_PATH = fileURLToPath(new URL('../../schema/tickgate.config.schema.json', import.meta.url));

export function renderConfigJsonSchema(): string {
  // io: 'input' describes what a file may say (defaults make keys optional); the cross-key rules
  // of superRefine and the feed-entry transform cannot be expressed and are left to tickgate.
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  const doc = {
    $schema: schema.$schema,
    title: 'tickgate config file',
    description:
      'Configuration for `tickgate serve` / `tickgate ingest` (README "Configuration"). Check a file with `tickgate config check FILE`.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(CONFIG_JSON_SCHEMA_PATH, renderConfigJsonSchema());
  process.stdout.write(`wrote ${CONFIG_JSON_SCHEMA_PATH}\n`);
}
