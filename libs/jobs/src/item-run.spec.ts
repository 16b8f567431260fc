import { describe, expect, it } from '@jest/globals';
import type { CodeMigrationTask, DocumentTask } from '#libs/domain';
import type { CompletionResult } from '#libs/providers';
import { documentPrompt } from './document-prompt.js';
import { runItem } from './item-run.js';
import { askChecked, CallTally, FEEDBACK_RESERVE_TOKENS, type ItemModel } from './model-calls.js';
import type { Prompt } from './prompt.js';

interface Call {
  prompt: Prompt;
  jsonSchema: Record<string, unknown> | undefined;
}

type FakeAnswer = string | { stop: string } | { cutOff: string };

/**
 * A provider that counts four characters a token, holds `contextTokens`, and answers with `answer`;
 * `{ cutOff }` is an answer that stopped at the call's maxTokens (finishReason 'length').
 */
function fakeModel(contextTokens: number, answer: (call: Call, n: number) => FakeAnswer) {
  const calls: Call[] = [];
  const count = (text: string) => Math.ceil(text.length / 4);
  const model: ItemModel<string> = {
    contextTokens,
    countTokens: count,
    promptTokens: (p) => count(p.system) + count(p.prompt) + 8,
    async complete(prompt, jsonSchema): Promise<CompletionResult | { stop: string }> {
      const call = { prompt, jsonSchema };
      // The real providers refuse what does not fit; so does the fake, so a test cannot pass on an overflow.
      if (model.promptTokens(prompt) + prompt.maxTokens > contextTokens)
        throw new Error(`overflow: ${model.promptTokens(prompt)} + ${prompt.maxTokens} > ${contextTokens}`);
      calls.push(call);
      const given = answer(call, calls.length);
      if (typeof given !== 'string' && 'stop' in given) return given;
      const text = typeof given === 'string' ? given : given.cutOff;
      const finishReason = typeof given === 'string' ? 'stop' : 'length';
      const usage = { inputTokens: model.promptTokens(prompt), outputTokens: count(text) };
      return { text, usage, model: 'fake', finishReason };
    },
  };
  return { model, calls };
}

/** A document of `n` numbered sentences, ~40 characters (10 tokens) each. */
const doc = (n: number) =>
  Array.from({ length: n }, (_, i) => `Sentence number ${String(i).padStart(4, '0')} is here.`).join(' ');
const documentItem = (text: string) => ({ kind: 'document-processing' as const, input: text, path: undefined });
const partOf = (p: Prompt) => /part="(\d+) of (\d+)"/.exec(p.prompt)?.slice(1).map(Number);

describe('runItem: documents', () => {
  const summarize: DocumentTask = { type: 'summarize', maxTokens: 64 };

  it('answers a document that fits the context in one call', async () => {
    const { model, calls } = fakeModel(4096, () => 'A short summary.');
    const run = await runItem(model, documentItem(doc(20)), summarize, 512);
    expect(run).toMatchObject({ kind: 'answered', result: 'A short summary.' });
    expect(calls).toHaveLength(1);
    expect(calls[0].prompt.prompt).toMatch(/^Summarize the following document/);
  });

  it('summarizes a long document map-reduce: one call per chunk in order, then one reduce over the partials in order', async () => {
    const { model, calls } = fakeModel(1024, (call) => {
      const part = partOf(call.prompt);
      return call.prompt.prompt.startsWith('Combine') ? 'The whole summary.' : `Summary of part ${part![0]}.`;
    });
    const text = doc(300); // ~3,000 tokens against a context of 1,024
    const run = await runItem(model, documentItem(text), summarize, 512);
    expect(run).toMatchObject({ kind: 'answered', result: 'The whole summary.' });
    const maps = calls.slice(0, -1);
    expect(maps.length).toBeGreaterThanOrEqual(4);
    expect(maps.map((c) => partOf(c.prompt))).toEqual(maps.map((_, i) => [i + 1, maps.length]));
    // Each chunk fits with its prompt, its answer and room for a retry's feedback; together they cover the text.
    for (const c of maps)
      expect(model.promptTokens(c.prompt) + c.prompt.maxTokens + FEEDBACK_RESERVE_TOKENS).toBeLessThanOrEqual(1024);
    expect(maps[0].prompt.prompt).toContain('Sentence number 0000');
    expect(maps.at(-1)!.prompt.prompt).toContain('Sentence number 0299');
    const reduce = calls.at(-1)!.prompt.prompt;
    expect(reduce).toMatch(
      /^Combine the following summaries of consecutive parts of one document into one summary of the whole document/,
    );
    const order = maps.map((_, i) => reduce.indexOf(`Summary of part ${i + 1}.`));
    expect(order.every((at, i) => at > 0 && (i === 0 || at > order[i - 1]))).toBe(true);
    // Usage of every call, summed.
    expect(run.tally.calls).toBe(calls.length);
    expect(run.tally.usage.inputTokens).toBe(calls.reduce((sum, c) => sum + model.promptTokens(c.prompt), 0));
    expect(run.tally.usage.outputTokens).toBe(
      maps.reduce((sum, _, i) => sum + Math.ceil(`Summary of part ${i + 1}.`.length / 4), 0) +
        Math.ceil('The whole summary.'.length / 4),
    );
  });

  it('reduces in rounds when the partial summaries do not fit one call together', async () => {
    const long = 'x'.repeat(1000); // a 250-token partial: a 1,024 context holds two of them, not all
    const { model, calls } = fakeModel(1024, (call) =>
      call.prompt.prompt.includes('one summary of the whole document') ? 'Final.' : `${long}`,
    );
    const run = await runItem(model, documentItem(doc(300)), summarize, 256);
    expect(run).toMatchObject({ kind: 'answered', result: 'Final.' });
    const intermediate = calls.filter((c) => c.prompt.prompt.includes('into one summary of these parts'));
    expect(intermediate.length).toBeGreaterThan(0);
    expect(calls.at(-1)!.prompt.prompt).toContain('one summary of the whole document');
  });

  it('classifies a long document from label-focused summaries, with the label schema on the final call only', async () => {
    const task: DocumentTask = { type: 'classify', labels: ['finance', 'hr'] };
    const { model, calls } = fakeModel(1024, (call) =>
      call.jsonSchema ? '{"label": "finance"}' : 'Mentions a budget.',
    );
    const run = await runItem(model, documentItem(doc(300)), task, 512);
    expect(run).toMatchObject({ kind: 'answered', result: '{"label":"finance"}' });
    expect(
      calls
        .slice(0, -1)
        .every(
          (c) =>
            c.jsonSchema === undefined && c.prompt.prompt.includes('Keep what bears on these labels: finance, hr.'),
        ),
    ).toBe(true);
    expect(calls.at(-1)!.jsonSchema).toEqual({
      type: 'object',
      properties: { label: { enum: ['finance', 'hr'] } },
      required: ['label'],
      additionalProperties: false,
    });
  });

  it('extracts per chunk against the schema without `required`, then merges against the full schema', async () => {
    const schema = {
      type: 'object',
      properties: { total: { type: 'integer' }, paid: { type: 'boolean' } },
      required: ['total', 'paid'],
      additionalProperties: false,
    };
    const { model, calls } = fakeModel(1024, (call) => {
      if (call.prompt.prompt.startsWith('Merge')) return '{"total": 250, "paid": true}';
      return partOf(call.prompt)![0] === 1 ? '{"total": 250}' : '{}';
    });
    const run = await runItem(model, documentItem(doc(300)), { type: 'extract', schema, maxTokens: 128 }, 512);
    expect(run).toMatchObject({ kind: 'answered', result: '{"total":250,"paid":true}' });
    const { required: _, ...relaxed } = schema;
    expect(calls.slice(0, -1).every((c) => JSON.stringify(c.jsonSchema) === JSON.stringify(relaxed))).toBe(true);
    expect(calls.at(-1)!.jsonSchema).toEqual(schema);
    expect(calls.at(-1)!.prompt.prompt).toContain('{"total":250}');
  });

  it('asks a chunk again with the reason its answer was rejected, and fails the item naming the part when it never passes', async () => {
    let secondPartAsks = 0;
    const { model, calls } = fakeModel(1024, (call) => {
      if (partOf(call.prompt)?.[0] !== 2) return 'Fine.';
      secondPartAsks += 1;
      return secondPartAsks === 1 ? '   ' : 'Fixed.';
    });
    const ok = await runItem(model, documentItem(doc(300)), summarize, 512);
    expect(ok.kind).toBe('answered');
    const retried = calls.filter((c) => partOf(c.prompt)?.[0] === 2);
    expect(retried).toHaveLength(2);
    expect(retried[1].prompt.prompt).toMatch(/Your previous answer was empty\. Answer with the summary\.$/);

    const never = fakeModel(1024, (call) => (partOf(call.prompt)?.[0] === 2 ? '' : 'Fine.'));
    const failed = await runItem(never.model, documentItem(doc(300)), summarize, 512);
    expect(failed.kind).toBe('rejected');
    expect((failed as { message: string }).message).toMatch(
      /^answer rejected 3 times \(the answer was empty\), in part 2 of \d+$/,
    );
    expect(never.calls).toHaveLength(1 + 3); // part 1, then part 2 three times; nothing after a part that failed
    expect(failed.tally.calls).toBe(4);
  });

  it('asks the first prompt again when a retry with the feedback would not fit the context', async () => {
    const text = doc(40);
    const single = documentPrompt(summarize, text, 512);
    const count = (t: string) => Math.ceil(t.length / 4);
    // Exactly the prompt and its answer: no room for the feedback a retry appends.
    const { model, calls } = fakeModel(count(single.system) + count(single.prompt) + 8 + single.maxTokens, (_, n) =>
      n === 1 ? '' : 'Summary.',
    );
    const run = await runItem(model, documentItem(text), summarize, 512);
    expect(run).toMatchObject({ kind: 'answered', result: 'Summary.' });
    expect(calls).toHaveLength(2);
    expect(calls[1].prompt).toEqual(calls[0].prompt);
  });

  it('stops at once when a call says stop (cancelled, rerouted), keeping the usage so far', async () => {
    const { model, calls } = fakeModel(1024, (_, n) => (n === 3 ? { stop: 'cancelled' } : 'Summary.'));
    const run = await runItem(model, documentItem(doc(300)), summarize, 512);
    expect(run).toMatchObject({ kind: 'stopped', stop: 'cancelled' });
    expect(calls).toHaveLength(3);
    expect(run.tally.calls).toBe(2);
  });

  it('says plainly when the context is too small for any part of the document', async () => {
    const { model, calls } = fakeModel(700, () => 'x');
    const run = await runItem(model, documentItem(doc(300)), { type: 'summarize' }, 512);
    expect(run.kind).toBe('rejected');
    expect((run as { message: string }).message).toMatch(
      /^the model's context of 700 tokens leaves \d+ tokens for a part of the document/,
    );
    expect(calls).toHaveLength(0);
  });
});

describe('runItem: large code files', () => {
  const task: CodeMigrationTask = { instruction: 'Use let instead of var' };
  /** 40 functions, ~12 tokens each with the blank line between them: ~460 tokens. */
  const file = Array.from({ length: 40 }, (_, i) => `function f${i}() {\n  var v = ${i};\n  return v;\n}\n`).join('\n');
  const item = (path: string, content: string) => ({ kind: 'code-migration' as const, input: content, path });
  const partText = (p: Prompt) => /```\n([\s\S]*?)\n```/.exec(p.prompt)![1];
  // As models do: the rewrite in a fence, without the blank lines around it.
  const migrate = (call: Call) => '```js\n' + partText(call.prompt).trim().replaceAll('var ', 'let ') + '\n```';

  it('migrates a file in one call when it and its rewrite fit', async () => {
    const { model, calls } = fakeModel(8192, migrate);
    const run = await runItem(model, item('src/a.js', file), task, 2048);
    expect(run).toMatchObject({ kind: 'answered', result: file.replaceAll('var ', 'let ') });
    expect(calls).toHaveLength(1);
  });

  it('splits a file too large for one answer at top-level declarations, migrates each part and reassembles a file that validates', async () => {
    const { model, calls } = fakeModel(8192, migrate);
    const run = await runItem(model, item('src/a.js', file), task, 128);
    expect(run.kind).toBe('answered');
    const { result, diff } = run as { result: string; diff: string };
    expect(result).toBe(file.replaceAll('var ', 'let '));
    expect(diff).toContain('-  var v = 39;');
    expect(calls.length).toBeGreaterThanOrEqual(4);
    expect(calls.map((c) => /This is part (\d+) of (\d+)/.exec(c.prompt.prompt)!.slice(1).map(Number))).toEqual(
      calls.map((_, i) => [i + 1, calls.length]),
    );
    // Each part holds whole functions and leaves room for its rewrite in one answer.
    for (const c of calls) {
      expect(partText(c.prompt)).toMatch(/^\n?function f\d+\(\) \{[\s\S]*\}\n?$/);
      expect(model.countTokens(partText(c.prompt)) * 1.25).toBeLessThanOrEqual(128);
    }
    expect(run.tally.calls).toBe(calls.length);
  });

  it("asks a part again with the validator's message when its rewrite does not parse", async () => {
    let broken = true;
    const { model, calls } = fakeModel(8192, (call) => {
      if (broken && partText(call.prompt).includes('function f10()')) {
        broken = false;
        return 'function f10() {\n  let v = ;\n';
      }
      return migrate(call);
    });
    const run = await runItem(model, item('src/a.js', file), task, 256);
    expect(run).toMatchObject({ kind: 'answered', result: file.replaceAll('var ', 'let ') });
    const asks = calls.filter((c) => partText(c.prompt).includes('function f10()'));
    expect(asks).toHaveLength(2);
    expect(asks[1].prompt.prompt).toMatch(/Your previous answer was rejected: line 2:\d+: Expression expected/);
  });

  it('validates the joined file and asks again the part that broke it', async () => {
    // JSON parts are lines, which do not parse alone: only the joined file can be checked.
    const json = `{\n${Array.from({ length: 60 }, (_, i) => `  "key${i}": "value number ${i}"`).join(',\n')}\n}\n`;
    let broken = true;
    const { model, calls } = fakeModel(8192, (call) => {
      const text = partText(call.prompt);
      if (broken && text.includes('"key30"')) {
        broken = false;
        return text.replace('"key30":', '"key30"');
      }
      return text;
    });
    const run = await runItem(model, item('config.json', json), { instruction: 'Keep as is' }, 256);
    expect(run).toMatchObject({ kind: 'answered', result: json });
    const asks = calls.filter((c) => partText(c.prompt).includes('"key30"'));
    expect(asks).toHaveLength(2);
    expect(asks[1].prompt.prompt).toContain('after joining the parts, the whole file has: line 32:');
  });

  it('asks for the file whole when maxTokens is too small for any part (the checker then says the answer was cut off)', async () => {
    const { model, calls } = fakeModel(8192, migrate);
    await runItem(model, item('src/a.js', file), task, 16);
    expect(calls).toHaveLength(1);
    expect(calls[0].prompt.prompt).not.toContain('This is part');
  });

  it('fails the item naming the part when a part never parses', async () => {
    const { model } = fakeModel(8192, (call) =>
      partText(call.prompt).includes('function f0()') ? 'function (' : migrate(call),
    );
    const run = await runItem(model, item('src/a.js', file), task, 256);
    expect(run.kind).toBe('rejected');
    expect((run as { message: string }).message).toMatch(
      /^answer rejected 3 times \(line 1:\d+: .*\), in part 1 of \d+ \(lines 1–\d+\)$/,
    );
  });
});

describe('cut-off answers (finishReason "length")', () => {
  const properties = { total: { type: 'number' }, note: { type: 'string' } };
  const schema = { type: 'object', properties, required: ['total'] };
  const extract = (maxTokens?: number): DocumentTask => ({ type: 'extract', schema, maxTokens });
  const message = (run: object) => (run as { message?: string }).message;
  const cutOffAt = (n: number) => `the answer was cut off at the output token limit (${n} tokens)`;
  const noLargerThan = (n: number) => `and MAX_OUTPUT_TOKENS (${n}) allows no larger limit`;

  it('reports a cut-off structured answer as a cut-off with its limit, and asks once more with twice it', async () => {
    const answers: FakeAnswer[] = [{ cutOff: '{"total": 12, "note": "a long' }, '{"total": 12}'];
    const { model, calls } = fakeModel(4096, () => answers.shift()!);
    const rejections: string[] = [];
    const run = await runItem(model, documentItem('Invoice.'), extract(64), 512, (r) => rejections.push(r.message));
    expect(run).toMatchObject({ kind: 'answered', result: '{"total":12}' });
    expect(rejections).toEqual([cutOffAt(64)]);
    expect(calls.map((c) => c.prompt.maxTokens)).toEqual([64, 128]);
    expect(calls[1].prompt.prompt).toContain('Your previous answer was cut off at the output token limit (64 tokens).');
    expect(calls[1].prompt.prompt).not.toContain('not JSON');
  });

  it('raises the limit only as far as MAX_OUTPUT_TOKENS, and a classify label from its default 32', async () => {
    const capped = fakeModel(4096, (_, n) => (n === 1 ? { cutOff: '{"total": 1' } : '{"total": 1}'));
    await runItem(capped.model, documentItem('Invoice.'), extract(64), 100);
    expect(capped.calls.map((c) => c.prompt.maxTokens)).toEqual([64, 100]);

    const classify = fakeModel(4096, (_, n) => (n === 1 ? { cutOff: '{"label": "fin' } : '{"label": "finance"}'));
    const labels = { type: 'classify' as const, labels: ['finance', 'hr'] };
    const run = await runItem(classify.model, documentItem('A budget.'), labels, 512);
    expect(run).toMatchObject({ kind: 'answered', result: '{"label":"finance"}' });
    expect(classify.calls.map((c) => c.prompt.maxTokens)).toEqual([32, 64]);
  });

  it('fails after one call, saying why, when MAX_OUTPUT_TOKENS allows no larger limit', async () => {
    const { model, calls } = fakeModel(4096, () => ({ cutOff: '{"total": 1, "note": "' }));
    const run = await runItem(model, documentItem('Invoice.'), extract(), 64);
    expect(run.kind).toBe('rejected');
    expect(message(run)).toBe(`${cutOffAt(64)}, ${noLargerThan(64)}`);
    expect(calls).toHaveLength(1);
    expect(run.tally.calls).toBe(1);
  });

  it("fails after one call when the model's context leaves no room for a larger limit", async () => {
    const text = 'Invoice. '.repeat(40);
    const single = documentPrompt(extract(64), text, 512);
    const count = (t: string) => Math.ceil(t.length / 4);
    // Room for the prompt, its 64 answer tokens and the cut-off feedback, not for 80 answer tokens.
    const context = count(single.system) + count(single.prompt) + 8 + 64 + 40;
    const { model, calls } = fakeModel(context, () => ({ cutOff: '{"total": 1' }));
    const run = await runItem(model, documentItem(text), extract(64), 512);
    expect(message(run)).toMatch(/, and the model's context of \d+ tokens leaves no room for a larger limit \(\d+ tok/);
    expect(message(run)).toMatch(new RegExp(`^${cutOffAt(64).replace(/[()]/g, '\\$&')}`));
    expect(calls).toHaveLength(1);
  });

  it('fails at once when the answer is cut off again after the limit was raised', async () => {
    const { model, calls } = fakeModel(4096, () => ({ cutOff: '{"note": "' }));
    const run = await runItem(model, documentItem('Invoice.'), extract(64), 512);
    expect(message(run)).toBe(`${cutOffAt(128)}, again after the limit was raised from 64 tokens`);
    expect(calls.map((c) => c.prompt.maxTokens)).toEqual([64, 128]);
  });

  it('keeps a raised limit for a retry that follows for another reason', async () => {
    const answers: FakeAnswer[] = [{ cutOff: '{"total": "' }, '{"total": "twelve"}', '{"total": 12}'];
    const { model, calls } = fakeModel(4096, () => answers.shift()!);
    const run = await runItem(model, documentItem('Invoice.'), extract(64), 512);
    expect(run).toMatchObject({ kind: 'answered', result: '{"total":12}' });
    expect(calls.map((c) => c.prompt.maxTokens)).toEqual([64, 128, 128]);
    expect(calls[2].prompt.prompt).toContain('Your previous answer was rejected: $.total: must be number');
  });

  it('accepts a summary that ran to the limit, as before: nothing reports it as a failure', async () => {
    const { model, calls } = fakeModel(4096, () => ({ cutOff: 'The board met and agreed on' }));
    const rejections: string[] = [];
    const task: DocumentTask = { type: 'summarize', maxTokens: 16 };
    const run = await runItem(model, documentItem(doc(5)), task, 512, (r) => rejections.push(r.message));
    expect(run).toMatchObject({ kind: 'answered', result: 'The board met and agreed on' });
    expect(calls).toHaveLength(1);
    expect(rejections).toEqual([]);
  });

  it('handles a cut-off the same way in a part of a long document', async () => {
    const schemaTask: DocumentTask = { type: 'extract', schema, maxTokens: 64 };
    let cut = false;
    const { model, calls } = fakeModel(1024, (call) => {
      if (call.prompt.prompt.startsWith('Merge')) return '{"total": 3}';
      if (partOf(call.prompt)?.[0] === 2 && !cut) {
        cut = true;
        return { cutOff: '{"total": 3, "note": "' };
      }
      return '{}';
    });
    const run = await runItem(model, documentItem(doc(300)), schemaTask, 512);
    expect(run).toMatchObject({ kind: 'answered', result: '{"total":3}' });
    const second = calls.filter((c) => partOf(c.prompt)?.[0] === 2);
    expect(second.map((c) => c.prompt.maxTokens)).toEqual([64, 128]);

    const never = fakeModel(1024, (call) => (partOf(call.prompt)?.[0] === 2 ? { cutOff: '{"note": "' } : '{}'));
    const failed = await runItem(never.model, documentItem(doc(300)), { ...schemaTask, maxTokens: 512 }, 512);
    expect(message(failed)).toMatch(/, in part 2 of \d+$/);
    expect(message(failed)!.replace(/, in part 2 of \d+$/, '')).toBe(`${cutOffAt(512)}, ${noLargerThan(512)}`);
  });

  it('reports a cut-off code migration with its limit, and asks once more with a larger one', async () => {
    const file = 'var a = 1;\n';
    const answers: FakeAnswer[] = [{ cutOff: '```js\nlet a' }, '```js\nlet a = 1;\n```\n'];
    const { model, calls } = fakeModel(8192, () => answers.shift()!);
    const rejections: string[] = [];
    const item = { kind: 'code-migration' as const, input: file, path: 'a.js' };
    const task = { instruction: 'Use let', maxTokens: 64 };
    const run = await runItem(model, item, task, 256, (r) => rejections.push(r.message));
    expect(run).toMatchObject({ kind: 'answered', result: 'let a = 1;\n' });
    expect(rejections).toEqual([cutOffAt(64)]);
    expect(calls.map((c) => c.prompt.maxTokens)).toEqual([64, 128]);
  });

  it('askChecked: an accepted cut-off answer is kept; a rejected one never gets the same limit again', async () => {
    const { model, calls } = fakeModel(4096, () => ({ cutOff: 'partial' }));
    const prompt = documentPrompt({ type: 'summarize', maxTokens: 10 }, 'x', 512);
    const options = { maxOutputTokens: 512 };
    const keep = (a: CompletionResult) => ({ ok: true as const, value: a.text });
    const kept = await askChecked(model, new CallTally(), prompt, undefined, keep, options);
    expect(kept).toMatchObject({ ok: true, value: 'partial', rounds: 1 });
    const refuse = () => ({ ok: false as const, message: 'no', retry: prompt });
    const refused = await askChecked(model, new CallTally(), prompt, undefined, refuse, options);
    expect(refused).toMatchObject({ ok: false, rounds: 2 });
    expect(calls.slice(1).map((c) => c.prompt.maxTokens)).toEqual([10, 20]);
  });
});
