import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { useSystem } from './support/use-system.js';

/**
 * Token estimates learn from completed items (TokenCalibration through the worker's PoolRegistry): the
 * real worker and API, the generated tiny model and its tokenizer (counting every prompt at intake), a
 * private Redis.
 */
describe('token estimates', () => {
  // A short note's summary is estimated at its floor of 32 tokens; the random-weight model always writes
  // MAX_OUTPUT_TOKENS (64), so every completed summary says "twice as long as estimated".
  const notes = (tag: string, n = 6) => ({
    kind: 'document-processing',
    sensitivity: 'public',
    deadline: 'P1D',
    task: { type: 'summarize' },
    items: Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, text: `${tag}-${i}: a short note.` })),
  });

  // The model is pinned to Llama 3's layout (LOCAL_CHAT_WRAPPER), not its file's ChatML template: intake and the
  // engine agree below only if both lay prompts out as configured (Llama 3's headers are plain text to this
  // vocabulary, ChatML's markers single tokens). Every other e2e system runs the default, `auto`.
  const sys = useSystem(async () => ({
    LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
    LOCAL_CHAT_WRAPPER: 'llama3',
    MAX_OUTPUT_TOKENS: '64',
  }));

  it('learns per task kind what the tokenizer counts and how long answers run, and quotes with the correction', async () => {
    const [pool] = (await sys.client.request('GET', '/v1/pools')).json.pools.filter((p: any) => p.target === 'local');
    expect(pool.chatWrapper).toBe('Llama 3'); // as pinned, not the file's ChatML
    const fresh = await sys.client.request('GET', '/v1/providers');
    const untaught = { input: { ratio: 1, samples: 0 }, output: { ratio: 1, samples: 0 } };
    expect(fresh.json.tokenEstimates.summarize).toEqual(untaught);
    const before = await sys.client.request('POST', '/v1/batches/quote', notes('quote'));
    expect(before.status).toBe(200);

    const submitted = await sys.client.request('POST', '/v1/batches', notes('learn'));
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch).toMatchObject({
      status: 'completed',
      routes: { local: 6, cloud: 0 },
      usage: { outputTokens: 6 * 64 },
    });

    const learned = await sys.client.request('GET', '/v1/providers');
    expect(learned.json.tokenEstimates.summarize.output).toEqual({ ratio: 2, samples: 6 });
    // Intake counted each prompt with the tiny model's own tokenizer (the API opens its vocabulary), chat template
    // included, and a local answer's prompt_tokens is that same rendered prompt (not the engine's meter, which files
    // the prompt's last token as output): nothing left to correct. Four characters a token would be off by half: the
    // 2,048-token vocabulary splits text much finer.
    expect(learned.json.tokenEstimates.summarize.input).toEqual({ ratio: 1, samples: 6 });
    // Only summaries ran: the other kinds keep their estimates.
    expect(learned.json.tokenEstimates.classify).toEqual(untaught);

    const after = await sys.client.request('POST', '/v1/batches/quote', notes('quote'));
    const cost = (q: { json: { estimatedCostUsd: number } }) => q.json.estimatedCostUsd;
    expect(cost(after)).toBeGreaterThan(cost(before) * 1.3);
  });
});
