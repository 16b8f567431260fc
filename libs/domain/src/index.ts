// Plain shapes every lib shares (batches, items, tasks, sensitivity, prices, token usage). Imports no other lib,
// so any lib may use it without a cycle.
export * from './batch-types.js';
export * from './config-error.js';
export * from './device-memory.js';
export * from './git-identity.js';
export * from './price.js';
export * from './repo-source.js';
export * from './route-target.js';
export * from './sensitivity.js';
export * from './token-usage.js';
