import { describe, expect, it } from '@jest/globals';
import { taskTexts } from './task-texts.js';

describe('taskTexts', () => {
  it('holds every string of a task that reaches a provider: instructions, labels, schema keys and values', () => {
    const texts = taskTexts({
      type: 'extract',
      instructions: 'card 4111.1111.1111.1111',
      labels: ['a', 'b'],
      schema: {
        type: 'object',
        properties: { ssn_536_22_1234: { type: 'string', description: 'the payer', enum: ['x@example.com'] } },
      },
    });
    expect(texts).toEqual(
      expect.arrayContaining(['card 4111.1111.1111.1111', 'a', 'b', 'ssn_536_22_1234', 'the payer', 'x@example.com']),
    );
  });
});
