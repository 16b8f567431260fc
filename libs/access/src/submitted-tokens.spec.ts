import { describe, expect, it } from '@jest/globals';
import { promptFor } from '#libs/jobs';
import { estimateTokens } from '#libs/routing';
import { submittedTokens } from './submitted-tokens.js';

const doc = (n: number, task: Record<string, unknown>) => ({
  kind: 'document-processing',
  task,
  items: Array.from({ length: n }, (_, i) => ({ id: `d${i}`, text: `document ${i} `.repeat(20) })),
});

/** What the items' prompts really send, item by item (the limit's reference). */
const sent = (body: ReturnType<typeof doc>): number =>
  body.items.reduce((sum, item) => {
    const p = promptFor({ kind: 'document-processing', input: item.text }, body.task as never, 512);
    return sum + estimateTokens(p.system) + estimateTokens(p.prompt);
  }, 0);

describe('tokens a submission counts against its key (issue 13 §3)', () => {
  it('is what every item’s prompt sends: text, template and task fields, within a token per item', () => {
    for (const task of [
      { type: 'summarize', instructions: 'Keep it short. '.repeat(50) },
      { type: 'classify', labels: ['invoice', 'receipt', 'x'.repeat(3000)] },
      {
        type: 'extract',
        schema: { type: 'object', properties: { total: { type: 'number', description: 'd'.repeat(2000) } } },
      },
    ]) {
      const body = doc(5, task);
      expect(Math.abs(submittedTokens(body) - sent(body))).toBeLessThanOrEqual(5);
    }
  });

  it('charges instructions, labels and schema once per item, since every item’s prompt carries them', () => {
    const plain = submittedTokens(doc(10, { type: 'classify', labels: ['a', 'b'] }));
    const padded = submittedTokens(
      doc(10, { type: 'classify', labels: ['a', 'b', 'l'.repeat(3000)], instructions: 'i'.repeat(4000) }),
    );
    // 3,000 + 4,000 characters more (~1,750 tokens), ten times.
    expect(padded - plain).toBeGreaterThanOrEqual(10 * 1750);
    const schema = { type: 'object', properties: { a: { type: 'string', description: 's'.repeat(4000) } } };
    expect(submittedTokens(doc(3, { type: 'extract', schema }))).toBeGreaterThanOrEqual(3 * 1000);
  });

  it('counts a code item’s path and instruction with its content', () => {
    const body = (instruction: string, path: string) => ({
      kind: 'code-migration',
      task: { instruction },
      items: [{ path, content: 'let a = 1;' }],
    });
    const base = submittedTokens(body('Use const.', 'a.js'));
    expect(submittedTokens(body(`Use const.${'x'.repeat(400)}`, 'a.js'))).toBe(base + 100);
    expect(submittedTokens(body('Use const.', `${'d/'.repeat(200)}a.js`))).toBe(base + 100);
  });

  it('still counts a malformed task, and nothing for a body without items', () => {
    expect(submittedTokens(doc(2, { type: 'bogus', labels: 'not-an-array', instructions: 7 }))).toBeGreaterThan(0);
    expect(submittedTokens(doc(2, { type: 'extract', schema: 'x'.repeat(800) }))).toBeGreaterThanOrEqual(2 * 200);
    expect(submittedTokens({ source: { repo: '/srv/app' } })).toBe(0);
    expect(submittedTokens(null)).toBe(0);
  });

  it('counts what a chat item sends besides its messages: a response_format schema and stop sequences', () => {
    const chat = (extra: Record<string, unknown>) => ({
      kind: 'chat',
      items: [{ id: 'c', body: { messages: [{ role: 'user', content: 'Say hi' }], ...extra } }],
    });
    const bare = submittedTokens(chat({}));
    expect(bare).toBe(estimateTokens('Say hi'));
    // A 65 KB description in the schema is about 16,000 tokens the provider reads, not free.
    const schema = { type: 'object', properties: { a: { type: 'string', description: 'd'.repeat(65_000) } } };
    const withSchema = submittedTokens(
      chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } }),
    );
    expect(withSchema - bare).toBeGreaterThanOrEqual(65_000 / 4);
    expect(submittedTokens(chat({ stop: ['s'.repeat(400)] })) - bare).toBeGreaterThanOrEqual(100);
  });
});
