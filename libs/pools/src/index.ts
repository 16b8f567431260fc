export * from './pool-registry.js';
export * from './provider-directory.js';
export * from './circuit-registry.js';
export * from './token-rate-limiter.js';
export * from './provider-capabilities.js';
