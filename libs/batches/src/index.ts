export * from './batch-types.js';
export * from './batch-status.js';
export * from './batch-submission.js';
export * from './deadline.js';
export * from './batch-keys.js';
export * from './batch-store.js';
export * from './batch-intake.js';
export * from './branch-outputs.js';
