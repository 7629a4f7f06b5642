// The wire types are defined once, in the client package (packages/client/src/protocol.ts); the
// gateway uses exactly those, so the SDK and the server cannot drift apart.
export * from '@tickgate/client/protocol';
