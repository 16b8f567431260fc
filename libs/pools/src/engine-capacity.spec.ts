import { describe, expect, it } from '@jest/globals';
import {
  engineConcurrency,
  engineContext,
  engineReading,
  parsePrometheus,
  parseSlots,
  readEngine,
  type EngineReading,
} from './engine-capacity.js';

// What llama-server (b5xxx, started with --metrics --parallel 4) answers on GET /metrics, abridged to the families
// around the three it is read for.
const LLAMA_SERVER_METRICS = `# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 4420
# HELP llamacpp:tokens_predicted_total Number of generation tokens processed.
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total 2048
# HELP llamacpp:n_busy_slots_per_decode Average number of busy slots per llama_decode() call
# TYPE llamacpp:n_busy_slots_per_decode counter
llamacpp:n_busy_slots_per_decode 1.8
# HELP llamacpp:predicted_tokens_seconds Average generation throughput in tokens/s.
# TYPE llamacpp:predicted_tokens_seconds gauge
llamacpp:predicted_tokens_seconds 53.16
# HELP llamacpp:kv_cache_usage_ratio KV-cache usage. 1 means 100 percent usage.
# TYPE llamacpp:kv_cache_usage_ratio gauge
llamacpp:kv_cache_usage_ratio 0.31
# HELP llamacpp:kv_cache_tokens KV-cache tokens.
# TYPE llamacpp:kv_cache_tokens gauge
llamacpp:kv_cache_tokens 5076
# HELP llamacpp:requests_processing Number of requests processing.
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 3
# HELP llamacpp:requests_deferred Number of requests deferred.
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 2
`;

// GET /slots of the same server: four slots, three processing (abridged params).
const LLAMA_SERVER_SLOTS = [0, 1, 2, 3].map((id) => ({
  id,
  id_task: id < 3 ? 25 + id : -1,
  n_ctx: 4096,
  speculative: false,
  is_processing: id < 3,
  params: { n_predict: -1, seed: 4294967295, temperature: 0.800000011920929, stop: [] },
  prompt: id < 3 ? '<|im_start|>user' : '',
  next_token: { has_next_token: id < 3, has_new_line: false, n_remain: -1, n_decoded: 112, stopping_word: '' },
}));

// vLLM 0.6 (V0 engine) GET /metrics, abridged: labelled per model, histograms around the gauges.
const VLLM_V0_METRICS = `# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
# HELP vllm:num_requests_swapped Number of requests swapped to CPU.
# TYPE vllm:num_requests_swapped gauge
vllm:num_requests_swapped{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.973
# HELP vllm:e2e_request_latency_seconds Histogram of end to end request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le="0.3",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 41.0
vllm:e2e_request_latency_seconds_count{model_name="meta-llama/Llama-3.1-8B-Instruct"} 41.0
`;

// vLLM 0.8+ (V1 engine): kv_cache_usage_perc, an engine label beside the model's.
const VLLM_V1_METRICS = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 5.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 0.42
`;

// vLLM V1 with --data-parallel-size 2: one series per engine, both under the same model name.
const VLLM_DATA_PARALLEL_METRICS = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 4.0
vllm:num_requests_running{engine="1",model_name="Qwen/Qwen2.5-7B-Instruct"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 0.0
vllm:num_requests_waiting{engine="1",model_name="Qwen/Qwen2.5-7B-Instruct"} 1.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 0.5
vllm:kv_cache_usage_perc{engine="1",model_name="Qwen/Qwen2.5-7B-Instruct"} 0.61
`;

const limits = { maxConcurrency: 32, kvGrowBelow: 0.8, kvShrinkAt: 0.95 };
const vllm = (over: Partial<EngineReading>): EngineReading => ({
  engine: 'vllm',
  slots: null,
  slotContext: null,
  running: 0,
  waiting: 0,
  kvUsage: 0.1,
  ...over,
});

describe('reading an engine', () => {
  it('parses Prometheus text: each label set a sample (quoted braces and spaces included), comments and timestamps skipped', () => {
    const m = parsePrometheus(
      `# HELP x y\nx{a="1 }",b="q\\"}"} 2 1700000000000\nx{a="2"} 3\nbad line here\ny NaN\nz +Inf\n`,
    );
    expect(m.get('x')).toEqual([2, 3]);
    expect(m.has('y')).toBe(false);
    expect(m.get('z')).toEqual([Infinity]);
  });

  it("reads llama-server's slots, running, deferred and KV cache; /slots is what runs", () => {
    expect(parseSlots(LLAMA_SERVER_SLOTS)).toEqual({ slots: 4, processing: 3, slotContext: 4096 });
    expect(engineReading('llama-server', LLAMA_SERVER_METRICS, LLAMA_SERVER_SLOTS)).toEqual({
      engine: 'llama-server',
      slots: 4,
      slotContext: 4096,
      running: 3,
      waiting: 2,
      kvUsage: 0.31,
    });
    // Without /slots (--no-slots) the metrics still say what runs and waits; without either, nothing is known.
    expect(engineReading('llama-server', LLAMA_SERVER_METRICS, null)).toMatchObject({ slots: null, running: 3 });
    expect(engineReading('llama-server', null, null)).toBeNull();
    expect(parseSlots({ error: 'This server does not support slots endpoint.' })).toBeNull();
  });

  it("reads vLLM's running and waiting requests and its KV cache under either name", () => {
    expect(engineReading('vllm', VLLM_V0_METRICS, null)).toEqual(vllm({ running: 12, waiting: 3, kvUsage: 0.973 }));
    expect(engineReading('vllm', VLLM_V1_METRICS, null)).toEqual(vllm({ running: 5, waiting: 0, kvUsage: 0.42 }));
    expect(engineReading('vllm', '# nothing of ours\nother_metric 1\n', null)).toBeNull();
  });

  it("vLLM with data parallelism: requests add up over its engines, the KV cache is the fullest engine's", () => {
    // Two engines half full are not one full cache: summed, the pool would shrink to 1 and never grow back.
    expect(engineReading('vllm', VLLM_DATA_PARALLEL_METRICS, null)).toEqual(
      vllm({ running: 7, waiting: 1, kvUsage: 0.61 }),
    );
    expect(
      engineConcurrency(engineReading('vllm', VLLM_DATA_PARALLEL_METRICS, null)!, { current: 8, inFlight: 0 }, limits),
    ).toMatchObject({ concurrency: 6, why: 'shrunk: 1 request(s) waiting' });
    const halfFull = VLLM_DATA_PARALLEL_METRICS.replace(/ 0\.61$/m, ' 0.5').replace(/ 1\.0$/m, ' 0.0');
    expect(engineReading('vllm', halfFull, null)).toMatchObject({ kvUsage: 0.5, waiting: 0 });
  });

  /** A fetch that answers as the test's engine does, recording what it was asked and with which key. */
  const recording = (answer: (url: URL) => Response) => {
    const asked: Array<{ url: string; auth: string | undefined }> = [];
    const fake = (async (url: string, init?: RequestInit) => {
      asked.push({ url, auth: (init?.headers as Record<string, string>).authorization });
      return answer(new URL(url));
    }) as typeof fetch;
    return { asked, fake };
  };
  const llamaAt = (capacityBase: string, model = 'default') => ({
    engine: 'llama-server' as const,
    baseURL: `${capacityBase}/v1`,
    capacityBase,
    model,
    apiKey: 'k',
  });
  const vllmAt = (capacityBase: string, model = 'Qwen/Qwen2.5-7B-Instruct') => ({
    engine: 'vllm' as const,
    baseURL: `${capacityBase}/v1`,
    capacityBase,
    model,
    apiKey: 'none',
  });

  it('asks llama-server for /metrics and /slots with its key, vLLM for /metrics and its models; a 404 is an endpoint left off', async () => {
    const { asked, fake } = recording((url) => {
      if (url.pathname.endsWith('/slots')) return new Response('{"error":"slots disabled"}', { status: 404 });
      if (url.pathname.endsWith('/models')) return Response.json({ object: 'list', data: [{ id: 'served' }] });
      return new Response(url.host.startsWith('vllm') ? VLLM_V1_METRICS : LLAMA_SERVER_METRICS);
    });
    const llama = await readEngine(llamaAt('http://llama:8080'), { timeoutMs: 1000, fetch: fake });
    expect(llama).toMatchObject({ slots: null, running: 3, waiting: 2 });
    expect(llama).not.toHaveProperty('servedModels');
    const vllmReading = await readEngine(vllmAt('http://vllm:8000'), { timeoutMs: 1000, fetch: fake });
    expect(vllmReading).toMatchObject({ running: 5, servedModels: ['served'] });
    expect(asked).toEqual([
      { url: 'http://llama:8080/metrics?model=default', auth: 'Bearer k' },
      { url: 'http://llama:8080/slots?model=default', auth: 'Bearer k' },
      { url: 'http://vllm:8000/metrics', auth: undefined },
      { url: 'http://vllm:8000/v1/models', auth: undefined },
    ]);
    const down = (async () => new Response('Loading model', { status: 503 })) as typeof fetch;
    await expect(readEngine(vllmAt('http://vllm:8000'), { timeoutMs: 1000, fetch: down })).rejects.toThrow(
      '/metrics: HTTP 503 (Loading model)',
    );
  });

  it('reads capacity under the path prefix the base URL has (a reverse proxy, --api-prefix), beside its /v1', async () => {
    const { asked, fake } = recording((url) => {
      if (url.pathname === '/gpu1/slots') return Response.json(LLAMA_SERVER_SLOTS);
      if (url.pathname === '/gpu1/metrics') return new Response(LLAMA_SERVER_METRICS);
      return new Response('', { status: 404 });
    });
    expect(await readEngine(llamaAt('http://gw/gpu1'), { timeoutMs: 1000, fetch: fake })).toMatchObject({
      slots: 4,
      running: 3,
    });
    expect(asked.map((a) => a.url)).toEqual([
      'http://gw/gpu1/metrics?model=default',
      'http://gw/gpu1/slots?model=default',
    ]);
  });

  it('names the model to llama-server in router mode, which answers /slots and /metrics only for a named model', async () => {
    // What the bundled server.cpp's router does (proxy_get): 400 without ?model=, the child's answer with it.
    const router = recording((url) => {
      const model = url.searchParams.get('model');
      if (!model)
        return Response.json(
          { error: { code: 400, message: 'model name is missing from the request', type: 'invalid_request_error' } },
          { status: 400 },
        );
      if (model !== 'qwen-7b')
        return Response.json({ error: { code: 400, message: `model '${model}' not found` } }, { status: 400 });
      return url.pathname === '/slots' ? Response.json(LLAMA_SERVER_SLOTS) : new Response(LLAMA_SERVER_METRICS);
    });
    expect(
      await readEngine(llamaAt('http://llama:8080', 'qwen-7b'), { timeoutMs: 1000, fetch: router.fake }),
    ).toMatchObject({ slots: 4, running: 3, waiting: 2 });
    expect(router.asked.map((a) => a.url)).toEqual([
      'http://llama:8080/metrics?model=qwen-7b',
      'http://llama:8080/slots?model=qwen-7b',
    ]);
    // A model the router does not know: its own words, not a bare status.
    await expect(
      readEngine(llamaAt('http://llama:8080', 'mistral 7b'), { timeoutMs: 1000, fetch: router.fake }),
    ).rejects.toThrow("HTTP 400 (model 'mistral 7b' not found)");
  });
});

describe('the context an engine pool holds its requests to', () => {
  const unset = { contextTokens: 4096, contextTokensSet: false };
  const set = (contextTokens: number) => ({ contextTokens, contextTokensSet: true });

  it("is the engine's own figure once it reports one, not the default", () => {
    // llama-server --parallel 8 -c 8192: 1024 per slot, far below the default 4096.
    expect(engineContext({ slotContext: 1024 }, unset)).toEqual({ tokens: 1024, reported: 1024, from: 'engine' });
    // llama-server with no --parallel: 4 slots on a unified KV cache, each with the whole (training) context.
    expect(engineContext({ slotContext: 131072 }, unset).tokens).toBe(131072);
    // vLLM: its max_model_len.
    expect(engineContext({ slotContext: null, maxModelLen: 32768 }, unset).tokens).toBe(32768);
  });

  it('is capped by contextTokens only where the entry set it, and never raised above the engine by it', () => {
    expect(engineContext({ slotContext: 131072 }, set(8192))).toEqual({
      tokens: 8192,
      reported: 131072,
      from: 'configured',
    });
    expect(engineContext({ slotContext: 1024 }, set(8192))).toEqual({ tokens: 1024, reported: 1024, from: 'engine' });
  });

  it('is the configured figure while the engine says nothing of it (--no-slots, an older vLLM, no reading yet)', () => {
    expect(engineContext(null, unset)).toEqual({ tokens: 4096, reported: null, from: 'default' });
    expect(engineContext({ slotContext: null }, set(2048))).toEqual({
      tokens: 2048,
      reported: null,
      from: 'configured',
    });
  });

  it("reads vLLM's max_model_len for the model configured, from the models list it already asks for", async () => {
    const models = {
      object: 'list',
      data: [
        { id: 'Qwen/Qwen2.5-7B-Instruct', object: 'model', max_model_len: 32768 },
        // A LoRA adapter's card has no max_model_len: its base model's holds.
        {
          id: 'sql-lora',
          object: 'model',
          root: '/adapters/sql',
          parent: 'Qwen/Qwen2.5-7B-Instruct',
          max_model_len: null,
        },
      ],
    };
    const fake = (async (url: string) =>
      url.endsWith('/models') ? Response.json(models) : new Response(VLLM_V1_METRICS)) as typeof fetch;
    const at = (model: string) => ({
      engine: 'vllm' as const,
      baseURL: 'http://vllm:8000/v1',
      capacityBase: 'http://vllm:8000',
      model,
      apiKey: 'none',
    });
    expect(await readEngine(at('Qwen/Qwen2.5-7B-Instruct'), { timeoutMs: 1000, fetch: fake })).toMatchObject({
      servedModels: ['Qwen/Qwen2.5-7B-Instruct', 'sql-lora'],
      maxModelLen: 32768,
    });
    expect(await readEngine(at('sql-lora'), { timeoutMs: 1000, fetch: fake })).toMatchObject({ maxModelLen: 32768 });
    // A model it does not serve has no context there (the pool does not consume from it anyway).
    expect(await readEngine(at('llama-8b'), { timeoutMs: 1000, fetch: fake })).not.toHaveProperty('maxModelLen');
  });
});

describe('concurrency from what the engine reports', () => {
  const llama = (over: Partial<EngineReading>): EngineReading => ({
    engine: 'llama-server',
    slots: 4,
    slotContext: 4096,
    running: 0,
    waiting: 0,
    kvUsage: 0,
    ...over,
  });

  it('llama-server: its slots, whatever we held before', () => {
    expect(engineConcurrency(llama({ slots: 4 }), { current: 1, inFlight: 0 }, limits).concurrency).toBe(4);
    expect(engineConcurrency(llama({ slots: 2 }), { current: 8, inFlight: 0 }, limits).concurrency).toBe(2);
  });

  it('llama-server: minus the slots others hold, our own requests not counted against us', () => {
    // 3 processing, 1 deferred; 2 of them ours: others hold 2 of the 4 slots.
    const shared = engineConcurrency(llama({ running: 3, waiting: 1 }), { current: 4, inFlight: 2 }, limits);
    expect(shared).toEqual({ concurrency: 2, why: '4 slot(s), 2 held by others' });
    // All of it ours: all 4.
    expect(engineConcurrency(llama({ running: 4 }), { current: 4, inFlight: 4 }, limits).concurrency).toBe(4);
    // Others hold every slot: still 1, so our queue moves (that request waits in the engine's queue).
    expect(engineConcurrency(llama({ running: 4, waiting: 3 }), { current: 4, inFlight: 0 }, limits).concurrency).toBe(
      1,
    );
    // Never above maxConcurrency.
    expect(engineConcurrency(llama({ slots: 64 }), { current: 4, inFlight: 0 }, limits).concurrency).toBe(32);
  });

  it('vLLM: grows while nothing waits and the KV cache has room, and only when we use what we have', () => {
    expect(engineConcurrency(vllm({ running: 4 }), { current: 4, inFlight: 4 }, limits)).toMatchObject({
      concurrency: 5,
    });
    expect(engineConcurrency(vllm({ running: 16 }), { current: 16, inFlight: 16 }, limits).concurrency).toBe(20);
    // Idle slack: no growth (a burst later would flood the engine).
    expect(engineConcurrency(vllm({ running: 2 }), { current: 4, inFlight: 2 }, limits)).toEqual({
      concurrency: 4,
      why: 'held',
    });
    // Between the thresholds: hold.
    expect(engineConcurrency(vllm({ kvUsage: 0.9 }), { current: 8, inFlight: 8 }, limits).concurrency).toBe(8);
    expect(engineConcurrency(vllm({}), { current: 32, inFlight: 32 }, limits).concurrency).toBe(32);
  });

  it('vLLM: shrinks when requests wait in the engine or its KV cache is nearly full, never below 1', () => {
    expect(engineConcurrency(vllm({ waiting: 3 }), { current: 8, inFlight: 8 }, limits)).toEqual({
      concurrency: 6,
      why: 'shrunk: 3 request(s) waiting',
    });
    expect(engineConcurrency(vllm({ kvUsage: 0.97 }), { current: 2, inFlight: 2 }, limits)).toEqual({
      concurrency: 1,
      why: 'shrunk: KV cache 97% full',
    });
    expect(engineConcurrency(vllm({ waiting: 1 }), { current: 1, inFlight: 1 }, limits).concurrency).toBe(1);
  });
});
