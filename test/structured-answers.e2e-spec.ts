import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { overflowingAnswer } from './support/openai-double.js';
import { fetchJson } from './support/fetch-json.js';
import { useSystem } from './support/use-system.js';

/**
 * Structured answers as real servers give them (issue 12), through the real path (API → Redis →
 * worker → cloud provider → store): numbers that overflow (llama.cpp's grammar writes `9e879`, which
 * JSON.parse reads as Infinity and JSON.stringify stores as null), and answers cut off at max_tokens.
 * The OpenAI double plays the server and records every request.
 */
describe('structured answers from a real-world server', () => {
  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      MAX_OUTPUT_TOKENS: '64',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '100',
      CLOUD_TOKENS_PER_SEC: '2000',
      // Assumed until measured: the local model meets no deadline of seconds, so those items go to the cloud.
      LOCAL_TOKENS_PER_SEC: '1',
    }),
    { double: { apiKey: 'test-key' } },
  );

  const schema = {
    type: 'object',
    properties: { amountEuros: { type: 'number' }, note: { type: 'string' } },
    required: ['amountEuros'],
  };
  /** Internal and due in 2 s: only the cloud meets it (the router assumes 1 tok/s locally until measured). */
  const extract = (task: object = {}) => ({
    kind: 'document-processing',
    sensitivity: 'internal',
    deadline: 'PT2S',
    task: { type: 'extract', schema, ...task },
    items: [{ id: 'invoice-1', text: 'Invoice 17: 12.50 EUR, paid on delivery.' }],
  });
  const userText = (body: any): string => body.messages.find((m: any) => m.role === 'user').content;

  async function run(body: object): Promise<{ item: any; sent: any[] }> {
    const submitted = await sys.client.request('POST', '/v1/batches', body);
    expect(submitted.status).toBe(202);
    await sys.client.waitFinished(submitted.json.id, 60_000);
    const { json } = await sys.client.request('GET', `/v1/batches/${submitted.json.id}/items`);
    return { item: json.items[0], sent: sys.double.completionRequests().map((r) => r.body) };
  }

  it('the double answers a structured request with overflowing numbers, and truncates at max_tokens', async () => {
    expect(overflowingAnswer(schema)).toBe('{"amountEuros":9e879,"note":"x"}');
    expect(JSON.parse(overflowingAnswer(schema)).amountEuros).toBe(Infinity);
    sys.double.reset();
    sys.double.answerOverflowingNumbers(true);
    const ask = (body: object) =>
      fetchJson(`${sys.double.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer test-key' },
        body: JSON.stringify({ model: 'double-model', messages: [{ role: 'user', content: 'Extract.' }], ...body }),
      }).then((res) => res.json);
    const response_format = { type: 'json_schema', json_schema: { name: 'a', schema } };
    const structured = await ask({ response_format });
    const content = '{"amountEuros":9e879,"note":"x"}';
    expect(structured.choices[0]).toMatchObject({ message: { content }, finish_reason: 'stop' });
    const truncated = await ask({ response_format, max_tokens: 4 });
    expect(truncated.choices[0]).toMatchObject({ message: { content: '{"amountEuros":9' }, finish_reason: 'length' });
    expect((await ask({})).choices[0].message.content).not.toContain('9e879');
    sys.double.reset();
    expect((await ask({ response_format })).choices[0].message.content).not.toContain('9e879');
  });

  it('an overflowing number is never stored as null: the item is asked again with the reason, then fails', async () => {
    sys.double.reset();
    sys.double.answerOverflowingNumbers(true);
    const { item, sent } = await run(extract({ maxTokens: 32 }));
    expect(item.status).toBe('failed');
    expect(item.result ?? null).toBeNull();
    expect(item.error).toBe('answer rejected 3 times ($.amountEuros: number overflows (not finite))');
    expect(item.errorCode).toBe('output_check_failed');
    expect(sent).toHaveLength(3);
    expect(userText(sent[0])).not.toContain('rejected');
    const reason = '$.amountEuros: number overflows (not finite)';
    expect(userText(sent[1])).toContain(`Your previous answer was rejected: ${reason}.`);
  });

  it('an overflowing number answered once is asked for again, and the corrected answer is stored', async () => {
    sys.double.reset();
    const answers = ['{"amountEuros": 9e879}', '{"amountEuros": 12.5}'];
    sys.double.setResponder(() => answers.shift() ?? null);
    const { item, sent } = await run(extract({ maxTokens: 32 }));
    expect(item).toMatchObject({ status: 'completed', result: '{"amountEuros":12.5}' });
    expect(sent).toHaveLength(2);
    expect(userText(sent[1])).toContain('$.amountEuros: number overflows (not finite)');
  });

  const longNote = 'Paid on delivery by bank transfer; the reference is on page two of the invoice.';
  /** ~110 characters: cut off at 16 tokens (64 characters), whole at 32 (128). */
  const answer = JSON.stringify({ amountEuros: 12.5, note: longNote });

  it('a cut-off answer is asked for again with a larger max_tokens, not the same one, and completes', async () => {
    sys.double.reset();
    sys.double.setResponder(() => answer);
    const { item, sent } = await run(extract({ maxTokens: 16 }));
    expect(item).toMatchObject({ status: 'completed', result: answer });
    expect(sent.map((body) => body.max_tokens)).toEqual([16, 32]);
    expect(userText(sent[1])).toContain('Your previous answer was cut off at the output token limit (16 tokens).');
    expect(userText(sent[1])).not.toContain('not JSON');
  });

  it('a cut-off answer fails after one call, saying so with the limit, when no larger limit is possible', async () => {
    sys.double.reset();
    sys.double.setResponder(() => JSON.stringify({ amountEuros: 12.5, note: longNote.repeat(4) }));
    // No task maxTokens: the limit is MAX_OUTPUT_TOKENS (64) already.
    const { item, sent } = await run(extract());
    expect(sent).toHaveLength(1);
    expect(sent[0].max_tokens).toBe(64);
    expect(item.status).toBe('failed');
    const cutOff = 'the answer was cut off at the output token limit (64 tokens)';
    expect(item.error).toBe(`${cutOff}, and MAX_OUTPUT_TOKENS (64) allows no larger limit`);
  });

  it('a restricted extract with free-text fields completes on the local model: its grammar is bounded', async () => {
    sys.double.reset();
    const notes = { type: 'array', items: { type: 'string' } };
    const fields = { type: 'object', properties: { vendor: { type: 'string' }, notes } };
    const local = { ...extract({ schema: fields, maxTokens: 40 }), sensitivity: 'restricted', deadline: 'P1D' };
    const { item, sent } = await run(local);
    expect(sent).toHaveLength(0);
    expect(item).toMatchObject({ status: 'completed', route: { target: 'local' } });
    expect(Object.keys(JSON.parse(item.result))).toEqual(['vendor', 'notes']);
  });
});
