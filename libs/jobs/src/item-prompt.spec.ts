import { describe, expect, it } from '@jest/globals';
import { promptFor } from './item-prompt.js';

describe('promptFor: the work an item is counted by', () => {
  const task = { instruction: 'Convert to ES modules' };
  const file = (chars: number) => ({ kind: 'code-migration' as const, path: 'a.js', input: 'x'.repeat(chars) });

  it('counts a file that fits one answer as one answer of about its length', () => {
    expect(promptFor(file(400), task, 512).expectedOutputTokens).toBe(Math.ceil(100 * 1.1) + 16); // 100 tokens
  });

  it('counts a file longer than one answer as all of its parts, not one capped answer', () => {
    // 20,000 tokens: migrated in parts of at most maxTokens each, about 22,000 tokens written in all.
    expect(promptFor(file(80_000), task, 512).expectedOutputTokens).toBe(22_016);
    expect(promptFor(file(80_000), task, 512).maxTokens).toBe(512);
  });
});
