export * from './app-config.js';
export * from '#libs/domain/src/config-error.js';
export * from './config.module.js';
