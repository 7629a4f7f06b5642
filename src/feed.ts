/**
 * What a feed author imports (`tickgate/feed`, docs/feeds.md): `defineFeed` and the adapter
 * types. Type-only imports cost nothing at run time.
 */
export { defineFeed, isInterestAware } from './feed/adapter.ts';
export type { FeedAdapter, FeedContext, FeedDefinition, FeedLogger, InterestAware } from './feed/adapter.ts';
export type { FeedTick, QuoteFields, TickKind, TradeFields } from './core/tick.ts';
export type { Clock } from './core/clock.ts';
export { isValidTopic, makeTopic, topicError } from './core/topic.ts';
