// Preloaded into the gateway child by tools/fuzz/fuzz.ts and tools/soak/soak.ts (node --expose-gc --import):
// on SIGUSR2 run a full garbage collection, so "heap used" sampled right after is live data
// only and a leak check does not depend on when V8 last collected. Nothing else changes.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
});
