export * from './shutdown-deadline.js';
