import { describe, expect, it } from '@jest/globals';
import type { CodeMigrationTask, DocumentTask, BatchTask } from '#libs/domain';
import type { CompletionResult } from '#libs/providers';
import { callsOn, type SplittableItem } from '#libs/routing';
import { promptFor } from './item-prompt.js';
import { runItem } from './item-run.js';
import { itemSplit } from './item-split.js';
import type { ItemModel } from './model-calls.js';
import type { Prompt } from './prompt.js';

const count = (text: string) => Math.ceil(text.length / 4);
const promptTokens = (p: Prompt) => count(p.system) + count(p.prompt) + 8;

/**
 * A provider of `contextTokens` that refuses what does not fit and answers each prompt with as many tokens as
 * the prompt expects (or with `answer`), so the runner's calls can be set against the routing estimate.
 */
function fakeModel(contextTokens: number, answer?: (prompt: Prompt) => string) {
  let calls = 0;
  const model: ItemModel<string> = {
    contextTokens,
    countTokens: count,
    promptTokens,
    async complete(prompt): Promise<CompletionResult> {
      if (promptTokens(prompt) + prompt.maxTokens > contextTokens) throw new Error('overflow');
      calls += 1;
      const text = answer ? answer(prompt) : 'abc '.repeat(prompt.expectedOutputTokens).trim();
      const usage = { inputTokens: promptTokens(prompt), outputTokens: count(text) };
      return { text, usage, model: 'fake', finishReason: 'stop' };
    },
  };
  return { model, calls: () => calls };
}

type Item = { kind: 'document-processing' | 'code-migration'; input: string; path: string | undefined };

/** What routing is told about the item, counted as the fake model counts. */
function estimate(item: Item, task: BatchTask, maxOutputTokens: number): SplittableItem {
  const prompt = promptFor(item, task, maxOutputTokens);
  const split = itemSplit(item, task, maxOutputTokens, { text: count, prompt: promptTokens });
  return { inputTokens: promptTokens(prompt), expectedOutputTokens: prompt.expectedOutputTokens, split };
}

const sentence = (i: number) => `Sentence number ${String(i).padStart(4, '0')} is here.`;
const report = Array.from({ length: 300 }, (_, i) => sentence(i)).join(' ');
const document = (text: string): Item => ({ kind: 'document-processing', input: text, path: undefined });
const fn = (i: number) => `function total${i}(a) {\n  var sum = a + ${i};\n  return sum;\n}\n`;
const source = Array.from({ length: 40 }, (_, i) => fn(i)).join('\n');
const file = (content: string): Item => ({ kind: 'code-migration', input: content, path: 'src/totals.js' });

describe('itemSplit: what routing estimates is what the runner does', () => {
  const summarize: DocumentTask = { type: 'summarize', maxTokens: 64 };

  const contexts = [512, 700, 1024, 2048, 4096];
  it.each(contexts)("counts a ~3k-token summary's calls on a context of %i within 15%%", async (context) => {
    const estimated = callsOn(estimate(document(report), summarize, 512), context);
    const { model, calls } = fakeModel(context);
    const run = await runItem(model, document(report), summarize, 512);
    expect(run.kind).toBe('answered');
    expect(estimated.ok).toBe(true);
    if (!estimated.ok) return;
    expect(Math.abs(estimated.calls - calls())).toBeLessThanOrEqual(Math.max(1, Math.round(calls() * 0.15)));
  });

  const schema = {
    type: 'object',
    properties: Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [`field${i}`, { type: 'string', description: `The field number ${i}` }]),
    ),
    required: ['field0'],
  };
  const extract: DocumentTask = { type: 'extract', schema, maxTokens: 64 };

  it('knows where an extract cannot run: there the runner refuses it for want of context', async () => {
    const item = estimate(document(report), extract, 512);
    for (const context of [512, 600, 700, 800, 2048]) {
      // Partial objects as long as the prompt expects: the combining prompt must hold them.
      const partial = (p: Prompt) => JSON.stringify({ field0: 'abcd'.repeat(p.expectedOutputTokens - 4) });
      const { model, calls } = fakeModel(context, partial);
      const run = await runItem(model, document(report), extract, 512);
      const estimated = callsOn(item, context);
      expect({ context, holds: estimated.ok }).toEqual({ context, holds: run.kind === 'answered' });
      if (!estimated.ok) {
        expect(run).toMatchObject({ kind: 'rejected', cause: 'context' });
        // Too small for a chunk: refused before any call; too small to combine the answers: after the map calls.
        if (/leaves \d+ tokens for a part/.test(estimated.reason)) expect(calls()).toBe(0);
      }
    }
    expect(callsOn(item, 512).ok).toBe(false);
    expect(callsOn(item, 2048).ok).toBe(true);
  });

  const migrate: CodeMigrationTask = { instruction: 'Use let instead of var', maxTokens: 64 };

  const rewrite = (p: Prompt) =>
    '```js\n' + /```\n([\s\S]*?)\n```/.exec(p.prompt)![1].replaceAll('var', 'let') + '\n```';

  it.each([300, 512, 1024, 8192])("counts a file's parts on a context of %i, or refuses it likewise", async (c) => {
    const context = c;
    const { model, calls } = fakeModel(context, rewrite);
    const run = await runItem(model, file(source), migrate, 512);
    const estimated = callsOn(estimate(file(source), migrate, 512), context);
    if (!estimated.ok) {
      expect(run).toMatchObject({ kind: 'rejected', cause: 'context' });
      expect(calls()).toBe(0);
      return;
    }
    expect(run.kind).toBe('answered');
    expect(Math.abs(estimated.calls - calls())).toBeLessThanOrEqual(Math.max(1, Math.round(calls() * 0.25)));
  });
});
