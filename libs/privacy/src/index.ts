export * from './pii-rules.js';
export * from './pii-detector.js';
export * from './effective-sensitivity.js';
