// Topic naming rules are shared with clients (they validate before sending), so they live in the
// client package (packages/client/src/topic.ts); this is the gateway's view of them.
export * from '@tickgate/client/topic';
