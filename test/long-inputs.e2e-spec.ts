import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { doubleTokenCount } from './support/openai-double.js';
import { useSystem } from './support/use-system.js';

/**
 * Inputs longer than the model's context, through the real path (API → Redis → worker → provider):
 * a long document is summarized map-reduce, a large file is migrated in parts and reassembled. The
 * cloud provider is configured with a small context (CLOUD_CONTEXT_TOKENS) so a few kilobytes are
 * "long"; the OpenAI double plays the model and records every request.
 */
describe('long inputs', () => {
  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_CONTEXT_SIZE: '1024',
      MAX_OUTPUT_TOKENS: '64',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '100',
      CLOUD_TOKENS_PER_SEC: '2000',
      CLOUD_CONTEXT_TOKENS: '1024',
    }),
    { double: { apiKey: 'test-key' } },
  );

  const userText = (body: any): string => body.messages.find((m: any) => m.role === 'user').content;
  const paragraph = (i: number) =>
    `Paragraph ${i} of the annual report. Revenue in region ${i} grew by ${i} percent, driven by new customers and steady renewals over the year.`;
  /** ~40 paragraphs, ~6,000 characters: ~1,500 tokens, against a cloud context of 1,024. */
  const report = Array.from({ length: 40 }, (_, i) => paragraph(i)).join('\n\n');
  const summarizeReport = (deadline: string) =>
    sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline,
      task: { type: 'summarize' },
      items: [{ id: 'report', text: report }],
    });
  /** The item and its batch are charged for every call answered: the double's counts of those, summed, at the frontier's prices. */
  const expectCharged = (item: any, batch: any, answered: any[], answers: string[]) => {
    const promptTokens = answered.reduce(
      (sum, body) => sum + doubleTokenCount(body.messages.map((m: any) => m.content).join('')),
      0,
    );
    const outputTokens = answers.reduce((sum, answer) => sum + doubleTokenCount(answer), 0);
    expect(item.usage).toEqual({ inputTokens: promptTokens, outputTokens });
    expect(item.costUsd).toBeCloseTo((promptTokens * 0.15 + outputTokens * 0.6) / 1e6, 12);
    expect(batch.usage).toMatchObject({ inputTokens: promptTokens, outputTokens });
  };

  // Cloud tests first: until the local model's speed is measured the router assumes 20 tok/s, so only the cloud meets PT2S.
  it('summarizes a long document map-reduce: several map requests in document order, then one reduce over their answers', async () => {
    sys.double.reset();
    const answers: string[] = [];
    sys.double.setResponder((body) => {
      const text = userText(body);
      const part = /<document part="(\d+) of (\d+)">/.exec(text);
      const answer = text.startsWith('Combine')
        ? 'The report: revenue grew in every region.'
        : `Summary of part ${part?.[1]}.`;
      answers.push(answer);
      return answer;
    });
    const submitted = await summarizeReport('PT2S');
    expect(submitted.status).toBe(202);
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch.status).toBe('completed');

    const sent = sys.double.completionRequests().map((r) => r.body);
    const maps = sent.slice(0, -1);
    const reduce = userText(sent.at(-1));
    expect(maps.length).toBeGreaterThanOrEqual(3);
    expect(maps.map((b) => /<document part="(\d+) of (\d+)">/.exec(userText(b))!.slice(1).map(Number))).toEqual(
      maps.map((_, i) => [i + 1, maps.length]),
    );
    expect(userText(maps[0])).toContain(paragraph(0));
    expect(userText(maps.at(-1))).toContain(paragraph(39));
    // Every request fits the configured context by the estimate (4 characters a token) with its answer.
    for (const body of sent)
      expect(doubleTokenCount(body.messages.map((m: any) => m.content).join('')) + body.max_tokens).toBeLessThanOrEqual(
        1024,
      );
    expect(reduce).toMatch(
      /^Combine the following summaries of consecutive parts of one document into one summary of the whole document/,
    );
    const at = maps.map((_, i) => reduce.indexOf(`Summary of part ${i + 1}.`));
    expect(at.every((pos, i) => pos > 0 && (i === 0 || pos > at[i - 1]))).toBe(true);

    const { json } = await sys.client.request('GET', `/v1/batches/${batch.id}/items`);
    const item = json.items[0];
    expect(item).toMatchObject({
      status: 'completed',
      result: 'The report: revenue grew in every region.',
      route: { target: 'cloud' },
    });
    expectCharged(item, batch, sent, answers);
  });

  it('charges a long item that failed midway and was tried again for the calls of both attempts', async () => {
    sys.double.reset();
    const answers: string[] = [];
    sys.double.setResponder((body) => {
      const answer = userText(body).startsWith('Combine') ? 'The report, once more.' : 'A part, summarized.';
      answers.push(answer);
      return answer;
    });
    // The first map call is answered; the second fails through all of the client's retries (3): the job's
    // attempt fails and BullMQ runs it again from the start.
    sys.double.failNext(4, { status: 500 }, 1);
    const submitted = await summarizeReport('PT5S');
    const batch = await sys.client.waitFinished(submitted.json.id, 60_000);
    expect(batch.status).toBe('completed');
    const { json } = await sys.client.request('GET', `/v1/batches/${batch.id}/items`);
    const item = json.items[0];
    expect(item).toMatchObject({ status: 'completed', route: { target: 'cloud' } });
    // Every answered request, the first attempt's included; the four that failed carried no usage.
    const answered = sys.double
      .completionRequests()
      .filter((_, i) => i < 1 || i > 4)
      .map((r) => r.body);
    expect(answered).toHaveLength(answers.length);
    expectCharged(item, batch, answered, answers);
  }, 60_000);

  /** 12 functions of ~60 characters: one answer of 64 tokens holds two of them, not the file. */
  const source = Array.from(
    { length: 12 },
    (_, i) => `function total${i}(a) {\n  var sum = a + ${i};\n  return sum;\n}\n`,
  ).join('\n');
  const expected = source.replaceAll('var sum', 'let sum');

  it('migrates a file too large for one answer in parts at top-level declarations, retries a part that does not parse, and reassembles a file that validates', async () => {
    sys.double.reset();
    let brokeOnce = false;
    sys.double.setResponder((body) => {
      const text = userText(body);
      const code = /```\n([\s\S]*?)\n```/.exec(text)![1];
      if (!brokeOnce && code.includes('function total4(')) {
        brokeOnce = true;
        return '```js\nfunction total4(a) {\n  let sum = ;\n```';
      }
      return '```js\n' + code.trim().replaceAll('var sum', 'let sum') + '\n```';
    });
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'code-migration',
      sensitivity: 'public',
      deadline: 'PT2S',
      task: { instruction: 'Use let instead of var', maxTokens: 64 },
      items: [{ path: 'src/totals.js', content: source }],
    });
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch.status).toBe('completed');

    const sent = sys.double.completionRequests().map((r) => userText(r.body));
    const parts = sent.map((text) => /This is part (\d+) of (\d+) of the file/.exec(text)!.slice(1).map(Number));
    const count = parts[0][1];
    expect(count).toBeGreaterThanOrEqual(3);
    expect(sent).toHaveLength(count + 1); // one retry
    const retried = sent.findIndex((text) => text.includes('Your previous answer was rejected'));
    expect(sent[retried]).toMatch(/Your previous answer was rejected: line 2:\d+: Expression expected/);
    expect(parts[retried]).toEqual(parts[retried - 1]);
    expect([...parts.slice(0, retried), ...parts.slice(retried + 1)]).toEqual(
      Array.from({ length: count }, (_, i) => [i + 1, count]),
    );
    // Whole functions in each part, each function in one part, in the file's order.
    const partOf = Array.from({ length: 12 }, (_, i) => [
      ...new Set(
        sent.flatMap((text, r) =>
          text.includes(`function total${i}(a) {\n  var sum = a + ${i};\n  return sum;\n}`) ? [parts[r][0]] : [],
        ),
      ),
    ]);
    expect(partOf.every((p) => p.length === 1)).toBe(true);
    expect(partOf.flat()).toEqual([...partOf.flat()].sort((a, b) => a - b));

    const { json } = await sys.client.request('GET', `/v1/batches/${batch.id}/items`);
    const item = json.items[0];
    expect(item).toMatchObject({ status: 'completed', result: expected, route: { target: 'cloud' } });
    expect(item.diff).toContain('-  var sum = a + 11;\n+  let sum = a + 11;');
    expect(item.usage.inputTokens).toBeGreaterThan(doubleTokenCount(source));
  });

  it('stops a long item between or during its calls once the batch is cancelled, charged for the calls it made', async () => {
    sys.double.reset();
    sys.double.setLatency(400);
    sys.double.setResponder(() => 'A part.');
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'PT2S',
      task: { type: 'summarize' },
      items: [{ id: 'report', text: report }],
    });
    for (let i = 0; sys.double.completionRequests().length < 2; i++) {
      if (i > 500) throw new Error('the long item never reached the cloud');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await sys.client.request('DELETE', `/v1/batches/${submitted.json.id}`)).status).toBe(200);
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch.counts.cancelled).toBe(1);
    const sent = sys.double.completionRequests().length;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(sys.double.completionRequests().length).toBe(sent); // nothing more after the cancel
    expect(sent).toBeLessThan(5); // well short of the map-reduce's five or more calls
    const { json } = await sys.client.request('GET', `/v1/batches/${batch.id}/items`);
    expect(json.items[0].status).toBe('cancelled');
    expect(json.items[0].usage.inputTokens).toBeGreaterThan(0); // the answered call(s) are charged
    sys.double.setLatency(0);
  });

  it('passes every call of a long item through the batch budget: calls already made stay counted, so the item stops short of it', async () => {
    sys.double.reset();
    sys.double.setResponder((body) => (userText(body).startsWith('Combine') ? 'The whole summary.' : 'A part.'));
    // A part's call reserves its worst case, its ~2,000 bytes of input as as many tokens: ~(2,100 × $0.15 + 64 × $0.60)/M
    // ≈ $0.00035, and costs ~$0.00008: the budget admits two calls ($0.00043 with the first's cost, the third would
    // need $0.00051), while the whole map-reduce takes five.
    const maxCostUsd = 0.00047;
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'PT2S',
      maxCostUsd,
      task: { type: 'summarize' },
      items: [{ id: 'report', text: report }],
    });
    expect(submitted.status).toBe(202);
    const batch = await sys.client.waitFinished(submitted.json.id);
    const sent = sys.double.completionRequests().map((r) => r.body);
    const paid = sent.reduce((sum, body) => {
      const input = doubleTokenCount(body.messages.map((m: any) => m.content).join(''));
      const output = doubleTokenCount(userText(body).startsWith('Combine') ? 'The whole summary.' : 'A part.');
      return sum + (input * 0.15 + output * 0.6) / 1e6;
    }, 0);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(paid).toBeLessThanOrEqual(maxCostUsd);
    expect(batch.budget.reached).toBe(true);
    const { json } = await sys.client.request('GET', `/v1/batches/${batch.id}/items`);
    expect(json.items[0].routeHistory.map((r: any) => r.target)).toEqual(['cloud', 'local']);
    expect(json.items[0].route.reason).toMatch(/batch budget reached/);
  });

  it('summarizes a long document on the local model in several calls, each within its context (measured with its tokenizer)', async () => {
    // Restricted: local only. The random-weight model writes exactly maxTokens tokens per call.
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline: 'P1D',
      task: { type: 'summarize', maxTokens: 32 },
      items: [{ id: 'report', text: report }],
    });
    const batch = await sys.client.waitFinished(submitted.json.id);
    const { json } = await sys.client.request('GET', `/v1/batches/${batch.id}/items`);
    const item = json.items[0];
    expect(item).toMatchObject({ status: 'completed', route: { target: 'local' } });
    const calls = item.usage.outputTokens / 32;
    expect(Number.isInteger(calls)).toBe(true);
    expect(calls).toBeGreaterThanOrEqual(3); // at least two parts and the reduce
    expect(item.usage.inputTokens).toBeGreaterThan(1024); // more than one context could hold
  });
});
