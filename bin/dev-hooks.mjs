// Development only (a source checkout): run the TypeScript sources through tsx, with the
// workspace package @tickgate/client resolved to its sources (the `tickgate-source` export
// condition) rather than its dist/, so nothing needs building first. Used by bin/tickgate-dev.js
// and the worker-thread bootstrap; tsconfig.json and the vitest config do the same.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
// Registered after tsx, so it runs first and tsx (then Node) resolve with the extra condition.
register(
  'data:text/javascript,' +
    encodeURIComponent(
      'export async function resolve(specifier, context, next) { return next(specifier, context.conditions.includes("tickgate-source") ? context : { ...context, conditions: [...context.conditions, "tickgate-source"] }); }',
    ),
);
