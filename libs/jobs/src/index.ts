export * from './prompt.js';
export * from './document-prompt.js';
export * from './code-migration-prompt.js';
export * from './item-prompt.js';
export * from './item-output.js';
export * from './model-calls.js';
export * from './item-run.js';
