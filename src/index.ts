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
export { createGateway, Gateway, type GatewayDeps, type GatewayUrls } from './gateway.ts';
export { ConfigError, loadConfig, validateConfig } from './config/load.ts';
export type { Config } from './config/schema.ts';
export { VERSION } from './version.ts';
export { builtinFeeds } from '../feeds/index.ts';
export type { FeedTick } from './core/tick.ts';
