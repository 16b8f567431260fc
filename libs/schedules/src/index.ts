export * from './schedule-types.js';
export * from './schedule-submission.js';
export * from './schedule-store.js';
export * from './schedule-service.js';
