import { readFileSync } from 'node:fs';
import { SENSITIVITY_LEVELS, type Sensitivity } from '#libs/domain';
import type { Price } from '#libs/domain';
import { ConfigError } from '#libs/domain';
import type { EnvReader } from './env-reader.js';
import { JsonEntry, ROUTE_NAME, jsonArray } from './json-entries.js';
import {
  parseTiers,
  tierRouteName,
  type BatchTierSettings,
  type CloudTier,
  type TierDeclaration,
} from './cloud-tiers.js';

/**
 * One route to an OpenAI-compatible endpoint: where it is, how it is paid, how far data may go to it. A provider
 * that declares tiers (issue 16 §3) is one entry per tier: `name` is the route (`frontier`, `frontier.flex`,
 * `frontier.batch`), with its own queue, price, measured latency and circuit; `provider` is the declared name.
 */
export interface CloudProviderConfig {
  name: string;
  /** The provider as declared (CLOUD_PROVIDERS[].name, CLOUD_PROVIDER_NAME): what its tiers share. */
  provider: string;
  tier: CloudTier;
  /** The batch tier only: how its Batch API is driven. */
  batch?: BatchTierSettings;
  baseURL: string;
  /** The key at start-up (validated then). */
  apiKey: string;
  /** Where the key came from when it is a file: the worker re-reads it when it changes (key rotation). */
  apiKeyFile: string | null;
  model: string;
  clearance: Sensitivity;
  /**
   * The operator's declaration that this endpoint runs on premises (CLOUD_ON_PREMISES, or `onPremises` in
   * CLOUD_PROVIDERS). Only such a provider may be cleared for restricted data: restricted means "never
   * leaves the machines we run", and a remote API is not one of them (issue 13 §6).
   */
  onPremises: boolean;
  timeoutMs: number;
  maxRetries: number;
  /** Requests in flight at once from one worker. */
  concurrency: number;
  /** Provider quotas, enforced across all workers; null for none. */
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
  /** For deadline estimates until measured: time to first token and generation speed. */
  latencyMs: number;
  tokensPerSec: number;
  /**
   * The model's context window (prompt plus answer), which the API does not report: a document or file
   * whose prompt does not fit is split into parts that do. The default fits gpt-4o-mini (128k); set it
   * to the served context for smaller models (vLLM --max-model-len, llama.cpp server --ctx-size).
   */
  contextTokens: number;
  price: Price;
}

/** Below this a prompt and its answer hardly fit at all: a typo rather than a real model. */
const MIN_CONTEXT_TOKENS = 256;

/** Why "restricted" is refused for a provider not declared on premises, and how to declare one. */
const RESTRICTED_NEEDS_PREMISES = (declaration: string): string =>
  'at most "confidential" for a remote provider: ' +
  `restricted data may only go to an endpoint declared on premises (${declaration})`;

/**
 * A base URL takes no query or fragment: the openai SDK appends each request's path to the URL as written, so an
 * Azure OpenAI deployment URL with `?api-version=…` sent every request to the deployment itself, its path inside the
 * api-version (`?api-version=2024-10-21%2Fchat%2Fcompletions`), and every item failed at the provider. Azure's v1
 * endpoint (`https://<resource>.openai.azure.com/openai/v1/`) needs no api-version and takes the key as a Bearer
 * token, as any OpenAI-compatible server does.
 */
function checkBaseURL(name: string, value: string): void {
  const url = new URL(value);
  if (url.search === '' && url.hash === '' && !value.includes('?') && !value.includes('#')) return;
  throw new ConfigError(
    name,
    'a URL without a query or fragment (the SDK appends each path to it; for Azure OpenAI, its v1 endpoint ' +
      'https://<resource>.openai.azure.com/openai/v1/, which needs no api-version)',
    value,
  );
}

/**
 * CLOUD_PROVIDERS: a JSON array of providers, each {name, baseURL, model, clearance, onPremises, apiKeyEnv | apiKeyFile,
 * priceInputPerM, priceOutputPerM, timeoutMs, maxRetries, concurrency, requestsPerMinute, tokensPerMinute,
 * latencyMs, tokensPerSec, contextTokens, tiers} (tiers: cloud-tiers.ts; CLOUD_TIERS for the single provider). Without it, OPENAI_BASE_URL + OPENAI_API_KEY define one provider ("frontier").
 * Keys are read from the environment or files, never from the JSON itself, so the JSON can be logged.
 */
export function cloudProviders(e: EnvReader, env: Record<string, string | undefined>): CloudProviderConfig[] {
  const defaults = {
    timeoutMs: e.int('CLOUD_TIMEOUT_MS', 60_000, 1),
    maxRetries: e.int('CLOUD_MAX_RETRIES', 3, 0, 20),
    concurrency: e.int('CLOUD_CONCURRENCY', 8, 1, 1024),
    latencyMs: e.int('CLOUD_LATENCY_MS', 800, 0),
    tokensPerSec: e.number('CLOUD_TOKENS_PER_SEC', 80, 0.001),
    requestsPerMinute: e.int('CLOUD_REQUESTS_PER_MINUTE', 0, 0) || null,
    tokensPerMinute: e.int('CLOUD_TOKENS_PER_MINUTE', 0, 0) || null,
    contextTokens: e.int('CLOUD_CONTEXT_TOKENS', 128_000, MIN_CONTEXT_TOKENS),
  };
  const raw = e.optionalString('CLOUD_PROVIDERS');
  if (raw === undefined) {
    const baseURL = e.url('OPENAI_BASE_URL');
    if (baseURL !== undefined) checkBaseURL('OPENAI_BASE_URL', baseURL);
    const apiKey = e.secret('OPENAI_API_KEY');
    if (!baseURL || !apiKey) return [];
    const name = e.string('CLOUD_PROVIDER_NAME', 'frontier');
    if (!ROUTE_NAME.test(name))
      throw new ConfigError('CLOUD_PROVIDER_NAME', 'letters, digits, "-" and "_" (up to 63)', name);
    const clearance = e.oneOf('CLOUD_MAX_SENSITIVITY', SENSITIVITY_LEVELS, 'internal');
    const onPremises = e.bool('CLOUD_ON_PREMISES', false);
    if (clearance === 'restricted' && !onPremises) {
      throw new ConfigError('CLOUD_MAX_SENSITIVITY', RESTRICTED_NEEDS_PREMISES('CLOUD_ON_PREMISES=true'), clearance);
    }
    const price = {
      inputPerMTokUsd: e.number('CLOUD_PRICE_INPUT_PER_M', 0.15),
      outputPerMTokUsd: e.number('CLOUD_PRICE_OUTPUT_PER_M', 0.6),
    };
    const tiers = parseTiers(jsonOf(e.optionalString('CLOUD_TIERS'), 'CLOUD_TIERS'), price, 'CLOUD_TIERS');
    return withTiers(
      {
        name,
        provider: name,
        tier: 'standard',
        baseURL,
        apiKey,
        // OPENAI_API_KEY wins over the file when both are set (EnvReader.secret reads it first).
        apiKeyFile:
          e.optionalString('OPENAI_API_KEY') === undefined ? (e.optionalString('OPENAI_API_KEY_FILE') ?? null) : null,
        model: e.string('OPENAI_MODEL', 'gpt-4o-mini'),
        clearance,
        onPremises,
        ...defaults,
        price,
      },
      tiers,
    );
  }
  const names = new Set<string>();
  return jsonArray('CLOUD_PROVIDERS', raw, 'a JSON array of providers').flatMap((value: unknown, i: number) => {
    const entry = new JsonEntry(`CLOUD_PROVIDERS[${i}]`, (value ?? {}) as Record<string, unknown>);
    const { where, fields: p } = entry;
    const str = entry.str.bind(entry);
    const num = entry.num.bind(entry);
    const name = entry.name(names, 'a name no other provider has');
    const baseURL = str('baseURL');
    try {
      new URL(baseURL);
    } catch {
      throw new ConfigError(`${where}.baseURL`, 'an absolute URL', baseURL);
    }
    checkBaseURL(`${where}.baseURL`, baseURL);
    const clearance = str('clearance', 'public');
    if (!(SENSITIVITY_LEVELS as readonly string[]).includes(clearance))
      throw new ConfigError(`${where}.clearance`, `one of ${SENSITIVITY_LEVELS.join(', ')}`, clearance);
    if (p.onPremises !== undefined && typeof p.onPremises !== 'boolean') {
      throw new ConfigError(`${where}.onPremises`, 'true or false', String(p.onPremises));
    }
    const onPremises = p.onPremises === true;
    if (clearance === 'restricted' && !onPremises) {
      throw new ConfigError(
        `${where}.clearance`,
        RESTRICTED_NEEDS_PREMISES(`"onPremises": true on this provider`),
        clearance,
      );
    }
    const price = {
      inputPerMTokUsd: num('priceInputPerM', 0.15, 0)!,
      outputPerMTokUsd: num('priceOutputPerM', 0.6, 0)!,
    };
    const standard: CloudProviderConfig = {
      name,
      provider: name,
      tier: 'standard',
      baseURL,
      apiKey: apiKeyOf(p, where, env),
      apiKeyFile: typeof p.apiKeyEnv !== 'string' && typeof p.apiKeyFile === 'string' ? p.apiKeyFile : null,
      model: str('model'),
      clearance: clearance as Sensitivity,
      onPremises,
      timeoutMs: num('timeoutMs', defaults.timeoutMs, 1)!,
      maxRetries: num('maxRetries', defaults.maxRetries, 0)!,
      concurrency: num('concurrency', defaults.concurrency, 1)!,
      requestsPerMinute: num('requestsPerMinute', defaults.requestsPerMinute, 1),
      tokensPerMinute: num('tokensPerMinute', defaults.tokensPerMinute, 1),
      latencyMs: num('latencyMs', defaults.latencyMs, 0)!,
      tokensPerSec: num('tokensPerSec', defaults.tokensPerSec, 0.001)!,
      contextTokens: integer(
        num('contextTokens', defaults.contextTokens, MIN_CONTEXT_TOKENS)!,
        `${where}.contextTokens`,
      ),
      price,
    };
    return withTiers(standard, parseTiers(p.tiers, price, `${where}.tiers`));
  });
}

/**
 * The provider's standard route, then one route per declared tier: the same endpoint, key, model and clearance
 * (clearance applies to every tier exactly as to the provider), the tier's own price and speed.
 */
function withTiers(standard: CloudProviderConfig, tiers: TierDeclaration[]): CloudProviderConfig[] {
  return [
    standard,
    ...tiers.map((t) => ({
      ...standard,
      name: tierRouteName(standard.provider, t.tier),
      tier: t.tier,
      price: t.price,
      latencyMs: t.latencyMs ?? standard.latencyMs,
      tokensPerSec: t.tokensPerSec ?? standard.tokensPerSec,
      timeoutMs: t.timeoutMs ?? standard.timeoutMs,
      ...(t.batch ? { batch: t.batch } : {}),
    })),
  ];
}

function jsonOf(raw: string | undefined, name: string): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new ConfigError(name, 'JSON, e.g. {"flex": {}, "batch": {}}');
  }
}

function integer(n: number, name: string): number {
  if (!Number.isInteger(n)) throw new ConfigError(name, 'an integer', String(n));
  return n;
}

function apiKeyOf(p: Record<string, unknown>, where: string, env: Record<string, string | undefined>): string {
  if (typeof p.apiKeyEnv === 'string') {
    const v = env[p.apiKeyEnv]?.trim();
    if (!v) throw new ConfigError(p.apiKeyEnv, `the API key of ${where} (named by its apiKeyEnv)`);
    return v;
  }
  if (typeof p.apiKeyFile === 'string') {
    let key: string;
    try {
      key = readFileSync(p.apiKeyFile, 'utf8').trim();
    } catch {
      throw new ConfigError(`${where}.apiKeyFile`, 'a readable file holding the key', p.apiKeyFile);
    }
    if (!key) throw new ConfigError(`${where}.apiKeyFile`, 'a file holding the key (it is empty)', p.apiKeyFile);
    return key;
  }
  throw new ConfigError(where, 'an "apiKeyEnv" or "apiKeyFile" naming where its API key is');
}
