import type { FeedDefinition } from '../src/feed/adapter.ts';
import { replayFeed } from './replay/index.ts';
import { simEquityFeed } from './sim-equity/index.ts';
import { simFxFeed } from './sim-fx/index.ts';
import { upstreamWsFeed } from './upstream-ws/index.ts';

/**
 * Every adapter the gateway can run, looked up by `name` in the composition root (src/gateway.ts);
 * nothing registers itself. A new adapter is a new folder under feeds/ plus one line here.
 *
 * Typed as FeedDefinition<unknown> rather than `as const`: a tuple of definitions with different
 * option types does not convert to the FeedDefinition<never>[] the gateway uses. Each definition's
 * `create` only ever receives the output of its own `optionsSchema`.
 */
export const builtinFeeds: readonly FeedDefinition<unknown>[] = [simEquityFeed, simFxFeed, replayFeed, upstreamWsFeed];
