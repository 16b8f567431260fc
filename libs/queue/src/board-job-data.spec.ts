import { describe, expect, it } from '@jest/globals';
import { boardJobData } from './board-job-data.js';

describe('boardJobData', () => {
  it("shows an item job's ids, route and deadline, and of its text and kept answers only their size", () => {
    const item = {
      batchId: 'b1',
      index: 3,
      itemId: 'contract-7',
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline: 1_765_000_000_000,
      model: 'tiny',
      inputTokens: 412,
      requestId: 'req-1',
      input: 'Confidential: the merger closes on Friday.',
      answered: [{ key: 'k', text: 'The merger closes Friday.', model: 'tiny', finishReason: 'stop' }],
    };
    const shown = boardJobData(item);
    expect(shown).toEqual({
      ...item,
      deadline: '2025-12-06T05:46:40.000Z',
      input: '(not shown: 42 characters)',
      answered: '(not shown: 1 entries)',
    });
    expect(JSON.stringify(shown)).not.toMatch(/merger/);
  });

  it('hides a field it does not know, whatever it holds', () => {
    expect(boardJobData({ batchId: 'b', prompt: { system: 'secret' }, n: 3 })).toEqual({
      batchId: 'b',
      prompt: '(not shown)',
      n: '(not shown)',
    });
    expect(boardJobData('raw text')).toBe('(not shown: 8 characters)');
    expect(boardJobData({})).toEqual({});
    // A deadline that is not epoch milliseconds is shown as it is.
    expect(boardJobData({ deadline: 'PT10M' })).toEqual({ deadline: 'PT10M' });
    expect(boardJobData({ deadline: 1e300 })).toEqual({ deadline: 1e300 });
    expect(boardJobData(undefined)).toBeUndefined();
  });
});
