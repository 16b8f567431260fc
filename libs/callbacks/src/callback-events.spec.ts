import { describe, expect, it } from '@jest/globals';
import type { BatchView, ItemView } from '#libs/domain';
import { batchFinishedBody, callbackEventId, itemFinishedBody, parseCallbackEventId } from './callback-events.js';

const batch: BatchView = {
  id: 'b1',
  kind: 'document-processing',
  status: 'completed',
  counts: { total: 1, queued: 0, running: 0, completed: 1, failed: 0, cancelled: 0 },
  sensitivity: 'internal',
  deadline: '2026-12-03T10:00:00.000Z',
  routes: { local: 1, cloud: 0 },
  usage: { inputTokens: 10, outputTokens: 5 },
  cost: { usd: 0.001 },
  budget: null,
  createdAt: '2026-12-03T09:00:00.000Z',
  finishedAt: '2026-12-03T09:01:00.000Z',
  tenant: 'acme',
  output: null,
  origin: null,
  estimatedFinishAt: null,
  callback: { url: 'https://example.com/hook', events: ['batch.finished'] },
};
const item: ItemView = {
  id: 'doc-1',
  index: 0,
  status: 'completed',
  sensitivity: 'internal',
  pii: null,
  route: { target: 'local', provider: 'tiny', model: 'tiny', reason: 'cheapest on time' },
  routeHistory: [],
  usage: { inputTokens: 10, outputTokens: 5 },
  costUsd: 0.001,
  result: 'SECRET ANSWER TEXT',
  diff: 'SECRET DIFF',
  error: 'SECRET ERROR',
  errorCode: null,
  attempts: 1,
  ruledOut: [],
  failedMoves: 0,
  deferredAt: null,
  usageEstimated: false,
  startedAt: '2026-12-03T09:00:30.000Z',
  finishedAt: '2026-12-03T09:01:00.000Z',
};

describe('callback event bodies', () => {
  it('have one id per event: the batch, or the batch and the item', () => {
    expect(callbackEventId('b1', 'batch.finished')).toBe('evt.b1.batch');
    expect(callbackEventId('b1', 'item.finished', 3)).toBe('evt.b1.item.3');
  });

  it('name their event again from their id, whatever the batch id holds; other ids name none', () => {
    for (const batchId of ['b1', 'batch_6a1.f00.item.3', 'a6877822-4a3d-450e-81b4-3c3f6703f809']) {
      expect(parseCallbackEventId(callbackEventId(batchId, 'batch.finished'))).toEqual({
        batchId,
        event: 'batch.finished',
      });
      expect(parseCallbackEventId(callbackEventId(batchId, 'item.finished', 12))).toEqual({
        batchId,
        event: 'item.finished',
        index: 12,
      });
    }
    for (const other of ['evt.b1.item.', 'evt.b1.item.01', 'evt..batch', 'b1.batch', 'evt.b1.item.-1'])
      expect(parseCallbackEventId(other)).toBeNull();
  });

  it('carry ids, counts, usage and cost, never an item result, diff or error', () => {
    const batchBody = JSON.stringify(batchFinishedBody(batch));
    const itemBody = JSON.stringify(itemFinishedBody('b1', item));
    expect(JSON.parse(batchBody)).toMatchObject({
      id: 'evt.b1.batch',
      type: 'batch.finished',
      createdAt: batch.finishedAt,
      data: { batch: { id: 'b1', status: 'completed', counts: batch.counts, cost: { usd: 0.001 } } },
    });
    expect(JSON.parse(itemBody)).toMatchObject({
      id: 'evt.b1.item.0',
      data: { batchId: 'b1', item: { index: 0, id: 'doc-1', status: 'completed', costUsd: 0.001 } },
    });
    for (const body of [batchBody, itemBody]) expect(body).not.toMatch(/SECRET|cheapest on time|hook/);
  });

  it("say why a failed item failed by its code, not by its error's text", () => {
    const failed = { ...item, status: 'failed' as const, errorCode: 'context_exceeded' };
    const body = JSON.stringify(itemFinishedBody('b1', failed));
    expect(JSON.parse(body).data.item).toMatchObject({ status: 'failed', errorCode: 'context_exceeded' });
    expect(body).not.toMatch(/SECRET/);
  });
});
