export * from './sensitivity.js';
export * from './cost.js';
export * from './token-estimate.js';
export * from './routing-policy.js';
export * from './edf-schedule.js';
export * from './throughput-estimate.js';
export * from './token-calibration.js';
export * from './latency-fit.js';
