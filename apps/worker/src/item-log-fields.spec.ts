import { describe, expect, it } from '@jest/globals';
import { itemLogFields } from './item-log-fields.js';

describe('itemLogFields', () => {
  it("names the item's batch, index and submitting request, in that order", () => {
    const fields = itemLogFields({ batchId: 'b1', index: 3, requestId: 'req-1' });
    expect(JSON.stringify(fields)).toBe('{"batchId":"b1","index":3,"requestId":"req-1"}');
  });

  it('leaves the request id out for an item without one (a schedule firing, a job enqueued before this field)', () => {
    expect(itemLogFields({ batchId: 'b1', index: 0 })).toEqual({ batchId: 'b1', index: 0 });
    expect('requestId' in itemLogFields({ batchId: 'b1', index: 0 })).toBe(false);
  });
});
