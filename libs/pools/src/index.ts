export * from './pool-registry.js';
export * from './provider-directory.js';
