import { describe, expect, it } from '@jest/globals';
import { toBatchView, toItemView } from './record-views.js';

const batchRecord = (fields: Record<string, string> = {}): Record<string, string> => ({
  id: 'b1',
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline: String(Date.parse('2026-01-01T00:00:00Z')),
  createdAt: String(Date.parse('2025-12-31T00:00:00Z')),
  total: '2',
  queued: '1',
  running: '1',
  completed: '0',
  failed: '0',
  cancelled: '0',
  ...fields,
});

describe('record views (no Redis)', () => {
  it('shows a batch without maxCostUsd as having no budget', () => {
    expect(toBatchView(batchRecord()).budget).toBeNull();
  });

  it('counts what unfinished items carried in the spent budget, never a negative carry or reservation', () => {
    const budget = (carriedUsd: string, reservedUsd: string) =>
      toBatchView(batchRecord({ maxCostUsd: '1', costUsd: '0.1', carriedUsd, reservedUsd })).budget;
    expect(budget('0.2', '0.05')).toEqual({ maxUsd: 1, spentUsd: 0.3, reservedUsd: 0.05, reached: false });
    // Float sums can leave a hair below zero once everything is released.
    expect(budget('-0.0000000001', '-0.0000000001')).toMatchObject({ spentUsd: 0.1, reservedUsd: 0 });
  });

  it('reads fields a record from an older version lacks as zero or null, never throwing', () => {
    const view = toBatchView({ id: 'old', deadline: 'P300000Y', createdAt: '1' });
    expect(view.deadline).toBeNull();
    expect(view.counts).toEqual({ total: 0, queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 });
    expect(view.finishedAt).toBeNull();
    expect(view.output).toBeNull();
    expect(view.tenant).toBeNull();
  });

  it("shows an item's usage only once it completed or has tokens, and its current route as the last one", () => {
    const routes = JSON.stringify([
      { target: 'cloud', provider: 'frontier', model: 'm', reason: 'first', at: 'x' },
      { target: 'local', provider: 'llama', model: 'l', reason: 'fallback', at: 'y' },
    ]);
    const queued = toItemView({ id: 'a', index: '3', status: 'queued', routes });
    expect(queued.usage).toBeNull();
    expect(queued.costUsd).toBeNull();
    expect(queued.index).toBe(3);
    expect(queued.route).toEqual({ target: 'local', provider: 'llama', model: 'l', reason: 'fallback' });
    expect(queued.routeHistory).toHaveLength(2);
    const done = toItemView({ id: 'a', index: '3', status: 'completed', routes });
    expect(done.usage).toEqual({ inputTokens: 0, outputTokens: 0 });
    expect(done.costUsd).toBe(0);
  });

  it('splits a ruled-out provider at the first colon only, so provider names may hold colons', () => {
    const item = toItemView({
      id: 'a',
      index: '0',
      status: 'queued',
      ruledOut: JSON.stringify({ 'cloud:openai:gpt-x': 'refused' }),
    });
    expect(item.ruledOut).toEqual([{ target: 'cloud', provider: 'openai:gpt-x', reason: 'refused' }]);
  });
});
