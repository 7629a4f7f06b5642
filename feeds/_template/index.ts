import { z } from 'zod';
import { isValidTopic } from '../../src/core/topic.ts';
import { defineFeed } from '../../src/feed/adapter.ts';
import { TemplateAdapter } from './adapter.ts';

/**
 * Options, validated (and defaulted) by the gateway with this schema before `create` runs.
 * Strict: an unknown key is an error. Give each check a message a user can act on: it is shown as
 * `invalid config: feeds.<i>.options.<key>: <message> (adapter <name>)`.
 */
export const templateOptionsSchema = z.strictObject({
  topic: z
    .string()
    .refine((t) => isValidTopic(t) && t.endsWith('.quote'), { error: 'must be a quote topic such as "equity.DEMO.quote"' })
    .default('equity.DEMO.quote'),
  intervalMs: z.int().min(1, { error: 'must be at least 1' }).max(60_000, { error: 'must be at most 60000' }).default(100),
  startPrice: z.number().positive({ error: 'must be positive' }).default(100),
});

export type TemplateOptions = z.output<typeof templateOptionsSchema>;

export const templateFeed = defineFeed<TemplateOptions>({
  name: 'template',
  description: 'Example adapter: one quote on a topic every intervalMs (copy feeds/_template to start a new adapter)',
  optionsSchema: templateOptionsSchema,
  create: (options) => new TemplateAdapter(options),
});

/** Loading by `{"module": "..."}` uses the default export (or a named `feed` export). */
export default templateFeed;
