import { readFileSync } from 'node:fs';
import { ConfigError, SENSITIVITY_LEVELS, type Price, type Sensitivity } from '#libs/domain';
import type { EnvReader } from './env-reader.js';
import { JsonEntry, jsonArray } from './json-entries.js';

/** The serving engines whose capacity Switchyard can read (issue 17 §4). */
export const ENGINE_KINDS = ['llama-server', 'vllm'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

/** An engine pool's context per request before its engine has reported one (and when it never does). */
const DEFAULT_ENGINE_CONTEXT_TOKENS = 4096;

/**
 * A serving engine the operator already runs on premises (llama.cpp's `llama-server`, vLLM), used as a local
 * pool: its own queue (`inference-local.<name>`), placed earliest-deadline-first and covered by the escalation
 * watchdog like a node-llama-cpp pool, its concurrency read from the engine itself rather than configured.
 */
export interface EnginePoolConfig {
  name: string;
  engine: EngineKind;
  /** The OpenAI-compatible base URL, e.g. http://gpu-1:8080/v1. */
  baseURL: string;
  /**
   * Where its capacity is read (llama-server's /slots and /metrics, vLLM's /metrics): the base URL without its
   * trailing /v1, any path before it kept (a reverse proxy's prefix, llama-server's --api-prefix).
   */
  capacityBase: string;
  /**
   * The model name sent in requests and capacity reads. vLLM refuses a name it does not serve
   * (--served-model-name); llama-server in router mode (several models) routes by it, and a single-model
   * llama-server ignores it.
   */
  model: string;
  /** Declared per endpoint, never defaulted: how sensitive an item this engine may take. */
  clearance: Sensitivity;
  /** Always true: an engine pool is on premises by definition, and its entry must say so. */
  onPremises: true;
  /** The engine's own key (llama-server --api-key, vLLM --api-key); "none" when it has none. */
  apiKey: string;
  timeoutMs: number;
  maxRetries: number;
  /** The most requests one worker keeps in flight, whatever the engine reports (a guard, not the concurrency). */
  maxConcurrency: number;
  /** vLLM: the concurrency a worker starts from before the engine has been read under load. */
  initialConcurrency: number;
  /** vLLM: grow while KV-cache usage is below this share; shrink at or above `kvShrinkAt`. */
  kvGrowBelow: number;
  kvShrinkAt: number;
  /** How often a worker reads the engine's capacity. */
  pollMs: number;
  /**
   * Tokens one request may hold, prompt and answer together, until the engine reports its own (llama-server's
   * slot `n_ctx`, vLLM's `max_model_len`): from then on the engine's figure is used (libs/pools engineContext).
   */
  contextTokens: number;
  /**
   * Whether the entry set `contextTokens` itself: then it also caps the engine's figure (the operator keeps requests
   * smaller than the engine allows); left at its default, the engine's figure alone counts.
   */
  contextTokensSet: boolean;
  /** Generation speed of one request before any is measured. */
  tokensPerSec: number;
  /** Cost per item for accounting and routing; 0 unless configured (the hardware is already paid for). */
  price: Price;
}

/**
 * ENGINE_POOLS: a JSON array of {name, engine, baseURL, model, onPremises, clearance, apiKeyEnv | apiKeyFile,
 * priceInputPerM, priceOutputPerM, timeoutMs, maxRetries, maxConcurrency, initialConcurrency, kvGrowBelow,
 * kvShrinkAt, pollMs, contextTokens, tokensPerSec}. `onPremises: true` and `clearance` are required on every
 * entry: what an engine may take is declared per endpoint, explicitly. `taken`: names of local models and cloud
 * routes, which share the queue namespace.
 */
export function enginePools(
  e: EnvReader,
  env: Record<string, string | undefined>,
  taken: ReadonlySet<string>,
): EnginePoolConfig[] {
  const pollMs = e.int('ENGINE_POLL_MS', 2000, 100);
  const raw = e.optionalString('ENGINE_POOLS');
  if (raw === undefined) return [];
  const entries = jsonArray(
    'ENGINE_POOLS',
    raw,
    'a JSON array of engines, e.g. [{"name": "gpu-1", "engine": "vllm", …}]',
  );
  // One namespace with the local models and cloud routes: each names a queue.
  const names = new Set(taken);
  return entries.map((value: unknown, i: number): EnginePoolConfig => {
    const where = `ENGINE_POOLS[${i}]`;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new ConfigError(where, 'an object {name, engine, baseURL, onPremises, clearance, …}');
    const entry = new JsonEntry(where, value as Record<string, unknown>);
    const p = entry.fields;
    const str = entry.str.bind(entry);
    const num = entry.num.bind(entry);
    const int = entry.int.bind(entry);
    const name = entry.name(names, 'a name no local model, cloud provider or other engine has');
    const engine = str('engine');
    if (!(ENGINE_KINDS as readonly string[]).includes(engine))
      throw new ConfigError(`${where}.engine`, `one of ${ENGINE_KINDS.join(', ')}`, engine);
    const baseURL = str('baseURL');
    let capacityBase: string;
    try {
      const url = new URL(baseURL);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
      // The engines serve /slots and /metrics beside /v1, not under it, and behind whatever prefix /v1 has.
      capacityBase = url.origin + url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
    } catch {
      throw new ConfigError(`${where}.baseURL`, 'an absolute http(s) URL, e.g. http://gpu-1:8080/v1', baseURL);
    }
    // Restricted data may go only where the operator said "on premises", and an engine pool is a local route:
    // the declaration is required on every entry rather than implied by the variable's name.
    if (p.onPremises !== true)
      throw new ConfigError(
        `${where}.onPremises`,
        'true: an engine pool is a local route, and its entry must declare that the endpoint runs on premises',
        p.onPremises === undefined ? undefined : String(p.onPremises),
      );
    if (p.clearance === undefined)
      throw new ConfigError(
        `${where}.clearance`,
        `the most sensitive data this endpoint may take, stated explicitly: one of ${SENSITIVITY_LEVELS.join(', ')}`,
      );
    const clearance = str('clearance');
    if (!(SENSITIVITY_LEVELS as readonly string[]).includes(clearance))
      throw new ConfigError(`${where}.clearance`, `one of ${SENSITIVITY_LEVELS.join(', ')}`, clearance);
    const kvGrowBelow = num('kvGrowBelow', 0.8, 0, 1);
    const kvShrinkAt = num('kvShrinkAt', 0.95, 0, 1);
    if (kvShrinkAt < kvGrowBelow)
      throw new ConfigError(`${where}.kvShrinkAt`, `at least kvGrowBelow (${kvGrowBelow})`, String(kvShrinkAt));
    const maxConcurrency = int('maxConcurrency', 64, 1, 4096);
    return {
      name,
      engine: engine as EngineKind,
      baseURL,
      capacityBase,
      model: str('model', 'default'),
      clearance: clearance as Sensitivity,
      onPremises: true,
      apiKey: engineKey(p, where, env),
      timeoutMs: int('timeoutMs', 300_000, 1),
      maxRetries: int('maxRetries', 1, 0, 20),
      maxConcurrency,
      initialConcurrency: Math.min(maxConcurrency, int('initialConcurrency', 4, 1, 4096)),
      kvGrowBelow,
      kvShrinkAt,
      pollMs: int('pollMs', pollMs, 100),
      contextTokens: int('contextTokens', DEFAULT_ENGINE_CONTEXT_TOKENS, 256),
      contextTokensSet: p.contextTokens !== undefined,
      tokensPerSec: num('tokensPerSec', 20, 0.001),
      price: {
        inputPerMTokUsd: num('priceInputPerM', 0, 0),
        outputPerMTokUsd: num('priceOutputPerM', 0, 0),
      },
    };
  });
}

/** An engine started without --api-key takes any; the openai SDK still wants a non-empty one. */
function engineKey(p: Record<string, unknown>, where: string, env: Record<string, string | undefined>): string {
  if (p.apiKeyEnv !== undefined) {
    if (typeof p.apiKeyEnv !== 'string' || p.apiKeyEnv === '')
      throw new ConfigError(`${where}.apiKeyEnv`, 'the name of a variable holding the key');
    const v = env[p.apiKeyEnv]?.trim();
    if (!v) throw new ConfigError(p.apiKeyEnv, `the API key of ${where} (named by its apiKeyEnv)`);
    return v;
  }
  if (p.apiKeyFile !== undefined) {
    if (typeof p.apiKeyFile !== 'string' || p.apiKeyFile === '')
      throw new ConfigError(`${where}.apiKeyFile`, 'the path of a file holding the key');
    let key: string;
    try {
      key = readFileSync(p.apiKeyFile, 'utf8').trim();
    } catch {
      throw new ConfigError(`${where}.apiKeyFile`, 'a readable file holding the key', p.apiKeyFile);
    }
    if (!key) throw new ConfigError(`${where}.apiKeyFile`, 'a file holding the key (it is empty)', p.apiKeyFile);
    return key;
  }
  return 'none';
}
