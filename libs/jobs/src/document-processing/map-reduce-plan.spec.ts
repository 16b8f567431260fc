import { describe, expect, it } from '@jest/globals';
import { documentPrompt } from '../document-prompt.js';
import { mapReducePlan, reduceGroups, reducePrompt } from './map-reduce-plan.js';

const chunks = [
  'The board met on Monday.',
  'It approved the 2025 budget of $4M.',
  'Alice Smith chairs the next meeting.',
];

describe('mapReducePlan', () => {
  it('summarizes each chunk with its place in the document, under the single-document system prompt', () => {
    const plan = mapReducePlan({ type: 'summarize', instructions: 'Write for executives.' }, chunks, 512);
    expect(plan.map).toHaveLength(3);
    expect(plan.map[1].system).toBe(documentPrompt({ type: 'summarize' }, 'x', 512).system);
    expect(plan.map[1].prompt).toBe(
      'Summarize the following part 2 of 3 of a longer document in a few sentences. Keep names, numbers and dates.\nWrite for executives.\n\n' +
        '<document part="2 of 3">\nIt approved the 2025 budget of $4M.\n</document>',
    );
    expect(plan.map[1].maxTokens).toBe(512);
    expect(plan.map[1].expectedOutputTokens).toBe(32);
  });

  it('combines the partial summaries in order into one summary', () => {
    const reduce = mapReducePlan({ type: 'summarize' }, chunks, 512).reduce(['S1', 'S2', 'S3']);
    expect(reduce.prompt).toMatch(
      /^Combine the following summaries of consecutive parts of one document into one summary of the whole document/,
    );
    expect(reduce.prompt).toContain(
      '<summary part="1 of 3">\nS1\n</summary>\n<summary part="2 of 3">\nS2\n</summary>\n<summary part="3 of 3">\nS3\n</summary>',
    );
  });

  it('refuses a reduce over a different number of partials than chunks', () => {
    expect(() => mapReducePlan({ type: 'summarize' }, chunks, 512).reduce(['S1', 'S2'])).toThrow(
      /expects 3 partial answers, got 2/,
    );
  });

  it('classifies from summaries that keep what bears on the labels, with a label-sized answer', () => {
    const task = { type: 'classify' as const, labels: ['finance', 'hr'] };
    const plan = mapReducePlan(task, chunks, 512);
    expect(plan.map[0].prompt).toContain('Keep what bears on these labels: finance, hr.');
    const reduce = plan.reduce(['S1', 'S2', 'S3']);
    expect(reduce.prompt).toMatch(
      /^Classify the document that the following summaries of its consecutive parts describe\. Answer with exactly one of these labels: finance, hr\./,
    );
    expect(reduce.maxTokens).toBe(32);
  });

  it('extracts partial objects per chunk and merges them against the schema', () => {
    const schema = { type: 'object', properties: { chair: { type: 'string' } } };
    const plan = mapReducePlan({ type: 'extract', schema }, chunks, 512);
    expect(plan.map[2].prompt).toContain('with only the fields this part states');
    expect(plan.map[2].prompt).toContain(`Schema: ${JSON.stringify(schema)}`);
    const reduce = plan.reduce(['{}', '{}', '{"chair":"Alice Smith"}']);
    expect(reduce.prompt).toMatch(/^Merge the following JSON objects/);
    expect(reduce.prompt).toContain('<extracted part="3 of 3">\n{"chair":"Alice Smith"}\n</extracted>');
  });

  it('keeps the task maxTokens under the configured maximum', () => {
    const plan = mapReducePlan({ type: 'summarize', maxTokens: 100 }, chunks, 64);
    expect(plan.map.every((p) => p.maxTokens === 64)).toBe(true);
  });
});

describe('reduce in rounds', () => {
  it('an intermediate classify reduce yields a summary, not a label', () => {
    const prompt = reducePrompt({ type: 'classify', labels: ['a', 'b'] }, ['S1', 'S2'], 512, 'intermediate');
    expect(prompt.prompt).toMatch(/^Combine the following summaries .* into one summary of these parts/);
    expect(prompt.maxTokens).toBe(512);
  });

  it('groups consecutive partials within the input limit; an oversized one stands alone', () => {
    const count = (s: string) => s.length;
    expect(reduceGroups(['aaa', 'bb', 'c', 'dddddd', 'e'], 5, count)).toEqual([
      ['aaa', 'bb'],
      ['c'],
      ['dddddd'],
      ['e'],
    ]);
    expect(reduceGroups([], 5, count)).toEqual([]);
  });
});
