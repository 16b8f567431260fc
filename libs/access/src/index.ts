export * from './api-key.js';
export * from './new-key.js';
export * from './api-key-store.js';
export * from './api-key-authenticator.js';
export * from './key-rate-limiter.js';
export * from './submitted-tokens.js';
export * from './listen-address.js';
export * from './owner-key-gate.js';
