import type { EngineKind, EnginePoolConfig } from '#libs/config';

/**
 * What a serving engine says about its load, read from its own endpoints (issue 17 §4): llama-server's `/slots`
 * (one entry per parallel slot) and `/metrics`, vLLM's `/metrics`. Null where the engine did not say.
 */
export interface EngineReading {
  engine: EngineKind;
  /** llama-server: its parallel slots (`--parallel`); null for vLLM, or when /slots is off (`--no-slots`). */
  slots: number | null;
  /**
   * llama-server: the context of one slot (`n_ctx`), what one request may hold there. Not `--ctx-size ÷ --parallel`
   * in general: with a unified KV cache (the default when `--parallel` is not given) every slot has the whole
   * context, and it is capped at the model's training context.
   */
  slotContext: number | null;
  /** Requests the engine is decoding now, everyone's. */
  running: number;
  /** Requests queued inside the engine because it has no room for them now. */
  waiting: number;
  /** KV cache in use, 0–1; null when the engine does not export it. */
  kvUsage: number | null;
  /** vLLM: the model names it serves (GET <baseURL>/models), when it listed them. */
  servedModels?: string[];
  /** vLLM: the context of the model configured (its `max_model_len` in GET <baseURL>/models), when it said. */
  maxModelLen?: number;
}

/** The context an engine pool's requests are held to, and where that figure comes from. */
export interface EngineContext {
  /** Tokens one request may hold there, prompt and answer together: what routing and the fit check use. */
  tokens: number;
  /** What the engine reported (llama-server's slot `n_ctx`, vLLM's `max_model_len`); null when it did not. */
  reported: number | null;
  /**
   * 'engine': its own figure; 'configured': the entry's `contextTokens` (set below the engine's, or nothing reported);
   * 'default': `contextTokens` left at its default, nothing reported.
   */
  from: 'engine' | 'configured' | 'default';
}

/**
 * The context an engine pool uses: the engine's own figure once it reported one, capped by `contextTokens` only
 * where the entry set it (an operator keeping requests smaller than the engine allows); otherwise the configured
 * figure (its default, 4096, when not set). The engine's figure is what it enforces: a request over it is refused
 * with exceed_context_size_error (llama-server) or a 400 (vLLM), which on a local pool fails the item for good.
 */
export function engineContext(
  reading: Pick<EngineReading, 'slotContext' | 'maxModelLen'> | null,
  config: Pick<EnginePoolConfig, 'contextTokens' | 'contextTokensSet'>,
): EngineContext {
  const said = reading?.slotContext ?? reading?.maxModelLen ?? null;
  const reported = typeof said === 'number' && Number.isInteger(said) && said > 0 ? said : null;
  if (reported === null)
    return { tokens: config.contextTokens, reported, from: config.contextTokensSet ? 'configured' : 'default' };
  if (config.contextTokensSet && config.contextTokens < reported)
    return { tokens: config.contextTokens, reported, from: 'configured' };
  return { tokens: reported, reported, from: 'engine' };
}

/** What a worker decides from a reading: how many requests it keeps in flight, and why, for /v1/pools and the logs. */
export interface EngineConcurrency {
  concurrency: number;
  why: string;
}

/** The knobs of the rule, from the engine's ENGINE_POOLS entry. */
export interface EngineConcurrencyLimits {
  maxConcurrency: number;
  kvGrowBelow: number;
  kvShrinkAt: number;
}

/**
 * Prometheus text exposition: each metric's samples, one per label set. They are kept apart because how series
 * combine depends on the metric: vLLM with data parallelism exports one series per engine (`engine="0"`, `"1"`,
 * …), whose request counts add up but whose KV-cache ratios do not. Comments, timestamps and malformed lines are
 * skipped; NaN is dropped.
 */
export function parsePrometheus(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    // name{labels} value [timestamp]: labels may hold spaces and braces inside quotes, so skip them by scanning.
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)/.exec(line);
    if (!match) continue;
    const name = match[1]!;
    let rest = line.slice(name.length);
    if (rest.startsWith('{')) {
      const end = labelsEnd(rest);
      if (end < 0) continue;
      rest = rest.slice(end + 1);
    }
    const value = parseSampleValue(rest.trim().split(/\s+/)[0] ?? '');
    if (value === null) continue;
    const samples = out.get(name);
    if (samples) samples.push(value);
    else out.set(name, [value]);
  }
  return out;
}

/** Index of the `}` closing a label set that starts at 0, or −1. */
function labelsEnd(s: string): number {
  let quoted = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (quoted && c === '\\') i += 1;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === '}') return i;
  }
  return -1;
}

function parseSampleValue(v: string): number | null {
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  const n = Number(v);
  return v === '' || Number.isNaN(n) ? null : n;
}

/** llama-server's GET /slots: an array of slots, each with `id`, `n_ctx` and `is_processing` (older: `state` 1). */
export function parseSlots(json: unknown): { slots: number; processing: number; slotContext: number | null } | null {
  if (!Array.isArray(json)) return null;
  let processing = 0;
  let slotContext: number | null = null;
  for (const slot of json as Array<Record<string, unknown>>) {
    if (typeof slot !== 'object' || slot === null) return null;
    if (slot.is_processing === true || slot.state === 1) processing += 1;
    if (typeof slot.n_ctx === 'number' && slotContext === null) slotContext = slot.n_ctx;
  }
  return { slots: json.length, processing, slotContext };
}

/** The metric names each engine exports for running and waiting requests and KV-cache usage. */
const METRICS: Record<EngineKind, { running: string[]; waiting: string[]; kv: string[] }> = {
  'llama-server': {
    running: ['llamacpp:requests_processing'],
    waiting: ['llamacpp:requests_deferred'],
    kv: ['llamacpp:kv_cache_usage_ratio'],
  },
  // vLLM's V0 engine names it gpu_cache_usage_perc, V1 kv_cache_usage_perc; both are a ratio 0–1 despite the name.
  vllm: {
    running: ['vllm:num_requests_running'],
    waiting: ['vllm:num_requests_waiting'],
    kv: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
  },
};

/**
 * One reading from what the engine answered: `metrics` (its /metrics text, null when not served) and `slots`
 * (llama-server's /slots JSON, null when not served). /slots wins over the metrics for what runs now (it is
 * exact per slot); the metrics add what waits and the KV cache. Null when neither said anything usable.
 *
 * Where a metric has several series (vLLM with data parallelism: one per engine), requests running and waiting are
 * summed, but the KV-cache ratio is the fullest engine's: that engine is the one that starts preempting, and the
 * sum of two half-full caches would read as one full cache and shrink the concurrency to 1 for good.
 */
export function engineReading(engine: EngineKind, metrics: string | null, slots: unknown): EngineReading | null {
  const names = METRICS[engine];
  const values = metrics === null ? new Map<string, number[]>() : parsePrometheus(metrics);
  const samples = (keys: string[]) => keys.map((k) => values.get(k)).find((v) => v !== undefined) ?? null;
  const total = (keys: string[]) => samples(keys)?.reduce((a, b) => a + b, 0) ?? null;
  const fullest = (keys: string[]) => {
    const found = samples(keys);
    return found === null ? null : Math.max(...found);
  };
  const perSlot = engine === 'llama-server' && slots !== null ? parseSlots(slots) : null;
  const running = perSlot?.processing ?? total(names.running);
  if (running === null && perSlot === null) return null;
  const kv = fullest(names.kv);
  return {
    engine,
    slots: perSlot?.slots ?? null,
    slotContext: perSlot?.slotContext ?? null,
    running: running ?? 0,
    waiting: total(names.waiting) ?? 0,
    kvUsage: kv === null ? null : Math.min(1, Math.max(0, kv)),
  };
}

/**
 * How many requests this worker keeps in flight on the engine, from what the engine reports (never a guess):
 *
 * - **Slots known** (llama-server): its slots minus the load of others — requests running or deferred there that
 *   are not this worker's (`inFlight`). At least 1, so our queue keeps moving (one request waits in the engine's
 *   own queue while others hold every slot); at most `maxConcurrency`.
 * - **No slots** (vLLM, or llama-server with --no-slots): additive growth, multiplicative shrink, on the engine's
 *   own signals. Requests waiting in the engine, or KV cache at `kvShrinkAt` or more: shrink to ¾ (at least one
 *   fewer, at least 1). Nothing waiting, KV below `kvGrowBelow`, and every request we allow in flight: grow by a
 *   quarter (at least 1), up to `maxConcurrency`. Otherwise hold. vLLM schedules by KV blocks, not a fixed
 *   number of sequences, so "what it can run" is found by probing up to where it starts queueing.
 */
export function engineConcurrency(
  reading: EngineReading,
  state: { current: number; inFlight: number },
  limits: EngineConcurrencyLimits,
): EngineConcurrency {
  const { current, inFlight } = state;
  const cap = (n: number) => Math.max(1, Math.min(limits.maxConcurrency, n));
  if (reading.slots !== null) {
    const others = Math.max(0, reading.running + reading.waiting - inFlight);
    const concurrency = cap(reading.slots - others);
    return {
      concurrency,
      why: `${reading.slots} slot(s)${others > 0 ? `, ${others} held by others` : ''}`,
    };
  }
  const kv = reading.kvUsage;
  if (reading.waiting > 0 || (kv !== null && kv >= limits.kvShrinkAt)) {
    const concurrency = cap(Math.min(current - 1, Math.floor(current * 0.75)));
    const because = reading.waiting > 0 ? `${reading.waiting} request(s) waiting` : `KV cache ${pct(kv!)} full`;
    return { concurrency, why: `shrunk: ${because}` };
  }
  if ((kv === null || kv < limits.kvGrowBelow) && inFlight >= current) {
    const concurrency = cap(current + Math.max(1, Math.ceil(current / 4)));
    return {
      concurrency,
      why:
        concurrency > current
          ? `grown: nothing waiting, KV cache ${kv === null ? 'unknown' : pct(kv)}`
          : 'at maxConcurrency',
    };
  }
  return { concurrency: cap(current), why: 'held' };
}

const pct = (ratio: number) => `${Math.round(ratio * 100)}%`;

/**
 * Reads the engine over HTTP; `fetch` is the global one unless a test gives another. Capacity is read at
 * `capacityBase`: the base URL without its /v1, so a reverse proxy's path prefix or llama-server's --api-prefix
 * is kept. llama-server is asked with `?model=`: in router mode (several models) it answers /slots and /metrics
 * only for a named model (HTTP 400 otherwise), and a single-model server ignores the parameter. vLLM is also asked
 * for its models (GET <baseURL>/models, where requests go), since it refuses every request for a model it does not
 * serve.
 */
export async function readEngine(
  target: { engine: EngineKind; baseURL: string; capacityBase: string; model: string; apiKey: string },
  opts: { timeoutMs: number; fetch?: typeof fetch },
): Promise<EngineReading | null> {
  const get = async (url: string, what: string): Promise<Response | null> => {
    const res = await (opts.fetch ?? fetch)(url, {
      headers: target.apiKey === 'none' ? {} : { authorization: `Bearer ${target.apiKey}` },
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    // An endpoint the engine was started without (llama-server without --metrics; --no-slots) is not an outage.
    if (res.status === 404 || res.status === 501) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) throw new Error(`${what}: HTTP ${res.status}${await errorDetail(res)}`);
    return res;
  };
  const query = target.engine === 'llama-server' ? `?model=${encodeURIComponent(target.model)}` : '';
  const capacity = (path: string) => get(`${target.capacityBase}${path}${query}`, path);
  const [metrics, slots, models] = await Promise.all([
    capacity('/metrics').then((r) => r?.text() ?? null),
    target.engine === 'llama-server' ? capacity('/slots').then((r) => (r ? r.json() : null)) : Promise.resolve(null),
    target.engine === 'vllm'
      ? get(`${target.baseURL.replace(/\/+$/, '')}/models`, '/models').then((r) => (r ? r.json() : null))
      : Promise.resolve(null),
  ]);
  const reading = engineReading(target.engine, metrics, slots);
  const cards = modelCards(models);
  if (reading === null || cards === null) return reading;
  const maxModelLen = contextOf(cards, target.model);
  return { ...reading, servedModels: cards.map((c) => c.id), ...(maxModelLen !== null && { maxModelLen }) };
}

/** A vLLM model card (vllm/entrypoints/openai protocol's ModelCard), as far as it is read. */
interface ModelCard {
  id: string;
  /** A LoRA adapter's base model. */
  parent: string | null;
  maxModelLen: number | null;
}

/** The models of an OpenAI-style model list (`{data: [{id}, …]}`), or null for anything else. */
function modelCards(json: unknown): ModelCard[] | null {
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { data?: unknown }).data)) return null;
  return ((json as { data: unknown[] }).data as Array<Record<string, unknown> | null>).flatMap((m) => {
    if (typeof m !== 'object' || m === null || typeof m.id !== 'string') return [];
    const len = m.max_model_len;
    return [
      {
        id: m.id,
        parent: typeof m.parent === 'string' ? m.parent : null,
        maxModelLen: typeof len === 'number' && Number.isInteger(len) && len > 0 ? len : null,
      },
    ];
  });
}

/** vLLM's context for `model`: its card's `max_model_len`; a LoRA adapter's card has none, its base model's holds. */
function contextOf(cards: ModelCard[], model: string): number | null {
  const card = cards.find((c) => c.id === model);
  if (!card) return null;
  return card.maxModelLen ?? cards.find((c) => c.id === card.parent)?.maxModelLen ?? null;
}

/** The start of an error answer, for the reason the pool shows (llama-server's router: "model 'x' not found"). */
async function errorDetail(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  let message = text;
  try {
    // llama-server and newer vLLM answer {error: {message}}, older vLLM {object: "error", message}.
    const body = JSON.parse(text) as { error?: { message?: unknown }; message?: unknown };
    const said = body.error?.message ?? body.message;
    if (typeof said === 'string') message = said;
  } catch {
    // Not JSON: the text is the message.
  }
  const short = message.replace(/\s+/g, ' ').trim().slice(0, 200);
  return short === '' ? '' : ` (${short})`;
}
