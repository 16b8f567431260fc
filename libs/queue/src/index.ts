export * from './queue-names.js';
export * from './queue-settings.js';
export * from './queue-layer.js';
export * from './job-errors.js';
export * from './job-queue.js';
export * from './in-memory-job-queue.js';
export * from './queue.module.js';
export * from './deadline-priority.js';
