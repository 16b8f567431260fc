import { describe, expect, it } from '@jest/globals';
import {
  engineConcurrency,
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
  it('parses Prometheus text: labels (quoted braces and spaces included) summed away, comments and timestamps skipped', () => {
    const m = parsePrometheus(
      `# HELP x y\nx{a="1 }",b="q\\"}"} 2 1700000000000\nx{a="2"} 3\nbad line here\ny NaN\nz +Inf\n`,
    );
    expect(m.get('x')).toBe(5);
    expect(m.has('y')).toBe(false);
    expect(m.get('z')).toBe(Infinity);
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

  it('asks llama-server for /metrics and /slots with its key, vLLM for /metrics only; a 404 is an endpoint left off', async () => {
    const asked: Array<{ url: string; auth: string | undefined }> = [];
    const fake = (async (url: string, init?: RequestInit) => {
      asked.push({ url, auth: (init?.headers as Record<string, string>).authorization });
      if (url.endsWith('/slots')) return new Response('{"error":"slots disabled"}', { status: 404 });
      return new Response(url.includes('vllm') ? VLLM_V1_METRICS : LLAMA_SERVER_METRICS);
    }) as typeof fetch;
    const llama = await readEngine(
      { engine: 'llama-server', origin: 'http://llama:8080', apiKey: 'k' },
      { timeoutMs: 1000, fetch: fake },
    );
    expect(llama).toMatchObject({ slots: null, running: 3, waiting: 2 });
    await readEngine({ engine: 'vllm', origin: 'http://vllm:8000', apiKey: 'none' }, { timeoutMs: 1000, fetch: fake });
    expect(asked).toEqual([
      { url: 'http://llama:8080/metrics', auth: 'Bearer k' },
      { url: 'http://llama:8080/slots', auth: 'Bearer k' },
      { url: 'http://vllm:8000/metrics', auth: undefined },
    ]);
    const down = (async () => new Response('Loading model', { status: 503 })) as typeof fetch;
    await expect(
      readEngine({ engine: 'vllm', origin: 'http://vllm:8000', apiKey: 'none' }, { timeoutMs: 1000, fetch: down }),
    ).rejects.toThrow('/metrics: HTTP 503');
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
