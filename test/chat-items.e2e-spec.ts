import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { useSystem } from './support/use-system.js';

const schema = {
  type: 'object',
  properties: { answer: { type: 'string' } },
  required: ['answer'],
  additionalProperties: false,
};

/**
 * Chat items through the native API (issue 16 §2): `kind: "chat"`, each item a chat-completions request,
 * routed like any item — to the cloud double with its parameters passed through, or to the local model
 * with its chat template and a grammar for json_schema — and answered as chat.completion objects.
 */
describe('chat items, a third job kind', () => {
  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      MAX_OUTPUT_TOKENS: '64',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '100',
      CLOUD_TOKENS_PER_SEC: '2000',
      // Assumed until measured: the local model meets no deadline of seconds, so internal items go to the cloud.
      LOCAL_TOKENS_PER_SEC: '1',
    }),
    { double: { apiKey: 'test-key' } },
  );

  async function results(body: object): Promise<any[]> {
    const submitted = await sys.client.request('POST', '/v1/batches', body);
    expect(submitted.status).toBe(202);
    await sys.client.waitFinished(submitted.json.id, 60_000);
    const res = await fetch(`${sys.url}/v1/batches/${submitted.json.id}/results`);
    return (await res.text())
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));
  }

  it('a cloud chat item is sent as written (messages, sampling, stop, response_format) and answered as a chat.completion', async () => {
    sys.double.reset();
    sys.double.setResponder(() => '{"answer":"42"}');
    const response_format = { type: 'json_schema', json_schema: { name: 'reply', schema, strict: true } };
    const messages = [
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'Question?' },
      { role: 'assistant', content: 'Which one?' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'The ' },
          { type: 'text', text: 'answer.' },
        ],
      },
    ];
    const [line] = await results({
      kind: 'chat',
      sensitivity: 'internal',
      deadline: 'PT5S',
      items: [
        {
          id: 'c-1',
          body: {
            model: 'gpt-4o-mini',
            messages,
            max_completion_tokens: 32,
            temperature: 0.3,
            seed: 11,
            stop: 'END',
            response_format,
          },
        },
      ],
    });
    expect(line).toMatchObject({ id: 'c-1', status: 'completed', route: { target: 'cloud' } });
    expect(line.result).toMatchObject({
      object: 'chat.completion',
      choices: [{ message: { role: 'assistant', content: '{"answer":"42"}' }, finish_reason: 'stop' }],
    });
    expect(line.result.usage.total_tokens).toBe(line.usage.inputTokens + line.usage.outputTokens);
    const [sent] = sys.double.completionRequests().map((r) => r.body);
    expect(sent).toMatchObject({ temperature: 0.3, seed: 11, stop: ['END'], max_tokens: 32, response_format });
    expect(sent.messages).toEqual([...messages.slice(0, 3), { role: 'user', content: 'The answer.' }]);
  });

  it('a confidential chat item runs on the local model; json_schema is kept by its grammar', async () => {
    sys.double.reset();
    const response_format = { type: 'json_schema', json_schema: { name: 'reply', schema } };
    const [line] = await results({
      kind: 'chat',
      sensitivity: 'confidential',
      deadline: 'PT10M',
      items: [
        {
          id: 'l-1',
          body: { messages: [{ role: 'user', content: 'Reply.' }], max_tokens: 48, seed: 1, response_format },
        },
      ],
    });
    expect(line).toMatchObject({ id: 'l-1', status: 'completed', route: { target: 'local' } });
    const [choice] = line.result.choices;
    // The grammar is bounded by max_tokens (issue 12), so even a random-weight model closes its object.
    expect(choice.finish_reason).toBe('stop');
    expect(Object.keys(JSON.parse(choice.message.content))).toEqual(['answer']);
    expect(sys.double.completionRequests()).toHaveLength(0);
  });

  it('personal data in a message raises the item past the cloud clearance', async () => {
    sys.double.reset();
    const [line] = await results({
      kind: 'chat',
      sensitivity: 'public',
      deadline: 'PT10M',
      items: [
        {
          id: 'p-1',
          body: { messages: [{ role: 'user', content: 'Card 4111 1111 1111 1111, refund it.' }], max_tokens: 4 },
        },
      ],
    });
    expect(line.route.target).toBe('local');
    expect(sys.double.completionRequests()).toHaveLength(0);
  });

  it('personal data anywhere in the body raises the item: a response_format schema, a stop sequence', async () => {
    sys.double.reset();
    const schema = (description: string) => ({
      type: 'object',
      properties: { answer: { type: 'string', description } },
      required: ['answer'],
      additionalProperties: false,
    });
    const item = (id: string, extra: object) => ({
      id,
      body: { messages: [{ role: 'user', content: 'Say hi.' }], max_tokens: 4, ...extra },
    });
    const format = (description: string) => ({
      response_format: { type: 'json_schema', json_schema: { name: 'refund', schema: schema(description) } },
    });
    const lines = await results({
      kind: 'chat',
      sensitivity: 'public',
      deadline: 'PT5S',
      items: [
        item('in-schema', format('the refund for customer card 4111 1111 1111 1111')),
        item('in-stop', { stop: ['4111 1111 1111 1111'] }),
      ],
    });
    // Raised by what the scan found, not merely sent here by cost or speed (the local model may meet 5 s by now).
    for (const line of lines)
      expect(line.route).toMatchObject({
        target: 'local',
        reason: expect.stringContaining('personal data (card) raised sensitivity to confidential'),
      });
    expect(JSON.stringify(sys.double.completionRequests())).not.toContain('4111');
  });

  it('an unsupported field is a 400 naming the item and the field, never silently dropped', async () => {
    const res = await sys.client.request('POST', '/v1/batches', {
      kind: 'chat',
      sensitivity: 'public',
      deadline: 'PT10M',
      items: [{ id: 'x', body: { messages: [{ role: 'user', content: 'hi' }], tools: [] } }],
    });
    expect(res.status).toBe(400);
    expect(res.json.field).toBe('items[0].body.tools');
    const last = await sys.client.request('POST', '/v1/batches', {
      kind: 'chat',
      sensitivity: 'public',
      deadline: 'PT10M',
      items: [{ id: 'x', body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 65 } }],
    });
    expect(last.json.field).toBe('items[0].body.max_tokens');
  });
});
