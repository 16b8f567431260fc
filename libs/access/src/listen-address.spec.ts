import { describe, expect, it } from '@jest/globals';
import { listenPlan } from './listen-address.js';

describe('listenPlan', () => {
  it('keeps an open API (no key anywhere) on loopback whatever HOST says, and says so', () => {
    const plan = listenPlan('0.0.0.0', false);
    expect(plan).toMatchObject({ host: '127.0.0.1', open: true });
    expect(plan.warning).toMatch(/OPEN.*127\.0\.0\.1 only.*HOST=0\.0\.0\.0 is ignored/);
    expect(listenPlan('127.0.0.1', false).warning).not.toMatch(/ignored/);
  });

  it('honours HOST once auth is configured', () => {
    expect(listenPlan('0.0.0.0', true)).toEqual({ host: '0.0.0.0', open: false, warning: null });
  });
});
