import { describe, expect, it } from '@jest/globals';
import { chunkByTokens, type TextChunk, type TokenMeasure } from './token-chunker.js';

/** A stand-in tokenizer: one token per word. */
const words: TokenMeasure = (text) => text.split(/\s+/).filter(Boolean);
const wordCount = (text: string) => text.split(/\s+/).filter(Boolean).length;

function paragraph(p: number, sentences: number): string {
  return Array.from({ length: sentences }, (_, s) => `Paragraph ${p} sentence ${s} has exactly eight words.`).join(' ');
}

const document = Array.from({ length: 12 }, (_, p) => paragraph(p, 2 + (p % 4))).join('\n\n') + '\n';

function expectCoverage(text: string, chunks: TextChunk[]): void {
  expect(chunks[0].start).toBe(0);
  expect(chunks.at(-1)!.end).toBe(text.length);
  chunks.forEach((chunk, i) => {
    expect(chunk.index).toBe(i);
    expect(chunk.text).toBe(text.slice(chunk.start, chunk.end));
    if (i > 0) {
      expect(chunk.start).toBeGreaterThan(chunks[i - 1].start);
      expect(chunk.start).toBeLessThanOrEqual(chunks[i - 1].end);
      expect(chunk.end).toBeGreaterThan(chunks[i - 1].end);
    }
  });
}

describe('chunkByTokens', () => {
  it('returns one chunk for a text that fits, and none for an empty one', () => {
    expect(chunkByTokens('Short text.', { chunkTokens: 100, overlapTokens: 10 }, words)).toEqual([
      { index: 0, start: 0, end: 11, text: 'Short text.', tokens: 2 },
    ]);
    expect(chunkByTokens('', { chunkTokens: 100, overlapTokens: 10 }, words)).toEqual([]);
  });

  it('covers the whole text in order with every chunk within the limit, for many sizes', () => {
    for (const chunkTokens of [1, 2, 5, 7, 8, 13, 30, 64, 200]) {
      for (const overlapTokens of [0, 1, Math.floor(chunkTokens / 4), chunkTokens - 1]) {
        if (overlapTokens >= chunkTokens) continue;
        const chunks = chunkByTokens(document, { chunkTokens, overlapTokens }, words);
        expectCoverage(document, chunks);
        for (const chunk of chunks) expect(wordCount(chunk.text)).toBeLessThanOrEqual(chunkTokens);
      }
    }
  });

  it('repeats at most overlapTokens from the previous chunk, starting at a sentence', () => {
    const chunks = chunkByTokens(document, { chunkTokens: 40, overlapTokens: 10 }, words);
    expect(chunks.length).toBeGreaterThan(3);
    for (let i = 1; i < chunks.length; i++) {
      const repeated = document.slice(chunks[i].start, chunks[i - 1].end);
      expect(wordCount(repeated)).toBe(8);
      expect(chunks[i].text).toMatch(/^Paragraph \d+ sentence \d+ /);
    }
  });

  it('closes chunks at paragraph breaks when one falls in the second half of the chunk', () => {
    const chunks = chunkByTokens(document, { chunkTokens: 40, overlapTokens: 0 }, words);
    const ends = chunks.slice(0, -1).map((chunk) => document.slice(chunk.end - 2, chunk.end));
    expect(ends.filter((end) => end === '\n\n').length).toBeGreaterThanOrEqual(ends.length - 1);
  });

  it('closes chunks at sentence ends rather than between words', () => {
    const prose = Array.from({ length: 30 }, (_, i) => `Sentence number ${i} is here.`).join(' ');
    const chunks = chunkByTokens(prose, { chunkTokens: 12, overlapTokens: 0 }, words);
    for (const chunk of chunks.slice(0, -1)) expect(chunk.text).toMatch(/\. $/);
  });

  it('cuts between words inside a sentence longer than a chunk, and inside a word only when a word is', () => {
    const run = Array.from({ length: 50 }, (_, i) => `w${i}`).join(' ');
    const chunks = chunkByTokens(run, { chunkTokens: 8, overlapTokens: 2 }, words);
    expectCoverage(run, chunks);
    for (const chunk of chunks) expect(chunk.text).toMatch(/^w\d+/);

    const blob = 'x'.repeat(1000);
    const byChars = chunkByTokens(blob, { chunkTokens: 100, overlapTokens: 0 }, (t) => t.length);
    expect(byChars.map((c) => c.text.length)).toEqual(Array(10).fill(100));
  });

  it('never splits a surrogate pair', () => {
    const emoji = '😀'.repeat(50);
    const chunks = chunkByTokens(emoji, { chunkTokens: 7, overlapTokens: 0 }, (t) => t.length);
    expectCoverage(emoji, chunks);
    for (const chunk of chunks) expect(chunk.text).toMatch(/^(?:😀)+$/u);
  });

  it('takes a tokenizer or a counting function alike, and gives the same chunks every time', () => {
    const options = { chunkTokens: 30, overlapTokens: 5 };
    const tokenized = chunkByTokens(document, options, words);
    expect(chunkByTokens(document, options, wordCount)).toEqual(tokenized);
    expect(chunkByTokens(document, options, words)).toEqual(tokenized);
  });

  it('refuses an overlap as large as the chunk, and a chunk below one token', () => {
    expect(() => chunkByTokens('x', { chunkTokens: 10, overlapTokens: 10 }, words)).toThrow(RangeError);
    expect(() => chunkByTokens('x', { chunkTokens: 0, overlapTokens: 0 }, words)).toThrow(RangeError);
    expect(() => chunkByTokens('x', { chunkTokens: 10, overlapTokens: -1 }, words)).toThrow(RangeError);
  });
});
