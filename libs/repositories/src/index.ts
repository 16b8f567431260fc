export * from './repository-registry.js';
export * from './repositories.module.js';
