/**
 * tickgate, programmatic: run a gateway inside your own Node process.
 *
 * ```ts
 * import { createGateway } from 'tickgate';
 * const gateway = createGateway({ port: 9001 });
 * const urls = await gateway.start();
 * ```
 *
 * Feed authors import from `tickgate/feed`; clients use the `@tickgate/client` package.
 */
import { builtinFeeds } from '../feeds/index.ts';
import type { ConfigInput, Config } from './config/schema.ts';
import type { FeedDefinition } from './feed/adapter.ts';
import { createGateway as createBareGateway, type Gateway, type GatewayDeps } from './gateway.ts';

export { Gateway, type GatewayDeps, type GatewayUrls } from './gateway.ts';
export { ConfigError, loadConfig, validateConfig } from './config/load.ts';
export type { Config } from './config/schema.ts';
export { VERSION } from './version.ts';
export { builtinFeeds } from '../feeds/index.ts';

/**
 * Builds a gateway from a (partial) config, validated like every other config source, with the
 * built-in adapters (feeds/index.ts) selectable by name unless `deps.feedDefinitions` says
 * otherwise. This entry point, like the CLI commands, is where the built-in feeds are handed in:
 * nothing else in src/ imports feeds/ (test/architecture.test.ts).
 */
export function createGateway(input: ConfigInput | Config = {}, deps: GatewayDeps = {}): Gateway {
  return createBareGateway(input, { feedDefinitions: builtinFeeds as readonly FeedDefinition<never>[], ...deps });
}
export type { FeedTick } from './core/tick.ts';
