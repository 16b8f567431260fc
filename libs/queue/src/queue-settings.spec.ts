import { describe, expect, it } from '@jest/globals';
import type { AppConfig, QueueTuning } from '#libs/config';
import {
  CALLBACKS_QUEUE,
  NO_REQUEST_LIMIT,
  QueueKind,
  queueLimiterMax,
  queueRefFor,
  type QueueRef,
} from './queue-names.js';
import { QUEUE_SETTINGS } from './queue-settings.js';

const tuning: QueueTuning = {
  lockDurationMs: 60_000,
  stalledIntervalMs: 30_000,
  maxStalledCount: 5,
  attempts: 5,
  backoffMs: 1000,
};
const DAY_S = 86_400;

describe('QUEUE_SETTINGS', () => {
  it("keeps finished item jobs, which hold the item's text, no longer than RESULT_TTL keeps its results", () => {
    for (const kind of [QueueKind.LocalInference, QueueKind.CloudInference]) {
      expect(QUEUE_SETTINGS[kind](tuning)).toMatchObject({
        removeOnComplete: { age: DAY_S },
        removeOnFail: { age: 7 * DAY_S },
      });
      expect(QUEUE_SETTINGS[kind]({ ...tuning, resultTtlMs: 30 * DAY_S * 1000 })).toMatchObject({
        removeOnComplete: { age: DAY_S },
        removeOnFail: { age: 7 * DAY_S },
      });
      expect(QUEUE_SETTINGS[kind]({ ...tuning, resultTtlMs: 12 * 3_600_000 })).toMatchObject({
        removeOnComplete: { age: 12 * 3600 },
        removeOnFail: { age: 12 * 3600 },
      });
      expect(QUEUE_SETTINGS[kind]({ ...tuning, resultTtlMs: 3 * DAY_S * 1000 }).removeOnFail.age).toBe(3 * DAY_S);
      expect(QUEUE_SETTINGS[kind]({ ...tuning, resultTtlMs: 500 }).removeOnComplete.age).toBe(1);
      // RESULT_TTL=off: results are kept for ever, and finished jobs as long as without it.
      expect(QUEUE_SETTINGS[kind]({ ...tuning, resultTtlMs: null }).removeOnFail.age).toBe(7 * DAY_S);
    }
  });
});

describe('queueLimiterMax', () => {
  it("is what a queue's workers are limited to: a cloud provider's requests per minute, else no limit", () => {
    const config = {
      cloudProviders: [
        { name: 'frontier', requestsPerMinute: 120 },
        { name: 'other', requestsPerMinute: null },
      ],
    };
    const of = (ref: QueueRef) => queueLimiterMax(ref, config as Pick<AppConfig, 'cloudProviders'>);
    expect(of(queueRefFor('cloud', 'frontier'))).toBe(120);
    expect(of(queueRefFor('cloud', 'other'))).toBe(NO_REQUEST_LIMIT);
    // A local model named like a cloud provider is not limited by that provider's quota.
    expect(of(queueRefFor('local', 'frontier'))).toBe(NO_REQUEST_LIMIT);
    expect(of(CALLBACKS_QUEUE)).toBe(NO_REQUEST_LIMIT);
  });
});
