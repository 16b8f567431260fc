import { describe, expect, it } from '@jest/globals';
import type { Token, Tokenizer } from 'node-llama-cpp';
import { rememberingTokenizer } from './rendered-prompt.js';

/** A tokenizer that counts its calls: one token per character, offset by the flags so they matter. */
function countingTokenizer(): { tokenizer: Tokenizer; calls: string[] } {
  const calls: string[] = [];
  const tokenize = (text: string, special?: boolean | 'builtin', options?: string): Token[] => {
    calls.push(text);
    const offset = (special === true ? 1000 : special === 'builtin' ? 2000 : 0) + (options ? 10_000 : 0);
    return [...text].map((c) => (c.codePointAt(0)! + offset) as Token);
  };
  const tokenizer = Object.assign(tokenize, {
    detokenize: () => '',
    isSpecialToken: () => false,
    isEogToken: () => false,
  }) as unknown as Tokenizer;
  return { tokenizer, calls };
}

describe('rememberingTokenizer', () => {
  it('answers as the tokenizer does, asking it once per text and flags', () => {
    const { tokenizer, calls } = countingTokenizer();
    const remembering = rememberingTokenizer(tokenizer);
    const plain = countingTokenizer().tokenizer;
    for (const [text, special, options] of [
      ['<|im_start|>user\n', true, 'trimLeadingSpace'],
      ['<|im_start|>user\n', false, 'trimLeadingSpace'],
      ['<|im_start|>user\n', true, undefined],
      ['BOS', 'builtin', undefined],
      ['', false, undefined],
    ] as const) {
      for (let i = 0; i < 3; i++) {
        expect(remembering(text as string, special as boolean, options)).toEqual(
          plain(text as string, special as boolean, options),
        );
      }
    }
    expect(calls).toHaveLength(5);
  });

  it('is one per tokenizer, and passes the rest of the tokenizer through', () => {
    const { tokenizer } = countingTokenizer();
    expect(rememberingTokenizer(tokenizer)).toBe(rememberingTokenizer(tokenizer));
    expect(rememberingTokenizer(countingTokenizer().tokenizer)).not.toBe(rememberingTokenizer(tokenizer));
    expect(rememberingTokenizer(tokenizer).detokenize).toBe(tokenizer.detokenize);
  });

  it('never remembers a long text, and forgets the least recently used past 256', () => {
    const { tokenizer, calls } = countingTokenizer();
    const remembering = rememberingTokenizer(tokenizer);
    const long = 'x'.repeat(4097);
    remembering(long);
    remembering(long);
    expect(calls).toHaveLength(2);

    calls.length = 0;
    remembering('system prompt');
    for (let i = 0; i < 300; i++) {
      remembering(`item ${i}`);
      remembering('system prompt'); // used with every item: stays
    }
    remembering('item 0'); // pushed out long ago
    expect(calls.filter((t) => t === 'system prompt')).toHaveLength(1);
    expect(calls.filter((t) => t === 'item 0')).toHaveLength(2);
  });
});
