import { ConfigError } from '#libs/domain';
import type { Price } from '#libs/domain';

/**
 * The prices one cloud model is sold at by latency (issue 16 §3): `standard`; `flex` (OpenAI's
 * `service_tier: "flex"`: batch prices, synchronous, slower, sometimes "resource unavailable"); `batch` (the
 * provider's own Batch API: a JSONL file of requests, done within its 24 h window, most far sooner).
 */
export const CLOUD_TIERS = ['standard', 'flex', 'batch'] as const;
export type CloudTier = (typeof CLOUD_TIERS)[number];

/** OpenAI sells flex and Batch API tokens at half the standard price (both tiers, input and output). */
export const DEFAULT_TIER_PRICE_MULTIPLIER: Readonly<Record<Exclude<CloudTier, 'standard'>, number>> = {
  flex: 0.5,
  batch: 0.5,
};

/** The Batch API's only completion window (`completion_window: "24h"`): what it promises at most. */
export const BATCH_WINDOW_MS = 24 * 60 * 60 * 1000;

/** How the worker drives one provider's Batch API. */
export interface BatchTierSettings {
  /** How long a provider batch is expected to take until some have been measured (then the learned figure rules). */
  expectedMs: number;
  /** How often an open provider batch's status is asked for. */
  pollMs: number;
  /** Lines gathered before a file is uploaded: items arriving within it go in one provider batch. */
  collectMs: number;
  /** At most this many lines per provider batch (OpenAI: 50 000). */
  maxLines: number;
}

/** What a tier changes of its provider's declaration; everything else (clearance, key, model) is the provider's. */
export interface TierDeclaration {
  tier: Exclude<CloudTier, 'standard'>;
  price: Price;
  latencyMs?: number;
  tokensPerSec?: number;
  timeoutMs?: number;
  batch?: BatchTierSettings;
}

/** The route name of a provider's tier: the provider's own name for standard, `<provider>.<tier>` otherwise. */
export function tierRouteName(provider: string, tier: CloudTier): string {
  return tier === 'standard' ? provider : `${provider}.${tier}`;
}

const TIER_KEYS: Readonly<Record<Exclude<CloudTier, 'standard'>, readonly string[]>> = {
  flex: ['priceMultiplier', 'priceInputPerM', 'priceOutputPerM', 'latencyMs', 'tokensPerSec', 'timeoutMs'],
  batch: ['priceMultiplier', 'priceInputPerM', 'priceOutputPerM', 'expectedMs', 'pollMs', 'collectMs', 'maxLines'],
};

/**
 * A provider's `tiers` ({"flex": {...}, "batch": {...}}, each possibly `{}`) against its standard price. `where`
 * names the setting in errors (`CLOUD_PROVIDERS[0].tiers`, `CLOUD_TIERS`). Absent: no tier beyond standard.
 */
export function parseTiers(raw: unknown, standard: Price, where: string): TierDeclaration[] {
  if (raw === undefined) return [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(where, 'an object of tiers, e.g. {"flex": {}, "batch": {"priceMultiplier": 0.5}}');
  return Object.entries(raw as Record<string, unknown>).map(([tier, value]) => {
    if (tier === 'standard') throw new ConfigError(`${where}.standard`, 'no entry: standard is the provider itself');
    if (tier !== 'flex' && tier !== 'batch') throw new ConfigError(`${where}.${tier}`, 'a tier named flex or batch');
    const at = `${where}.${tier}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new ConfigError(at, 'an object (`{}` takes the defaults)');
    const v = value as Record<string, unknown>;
    for (const key of Object.keys(v)) {
      if (!TIER_KEYS[tier].includes(key)) throw new ConfigError(`${at}.${key}`, `one of ${TIER_KEYS[tier].join(', ')}`);
    }
    const num = (key: string, min: number, integer = false): number | undefined => {
      const n = v[key];
      if (n === undefined) return undefined;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
        throw new ConfigError(`${at}.${key}`, `${integer ? 'an integer' : 'a number'} ≥ ${min}`, String(n));
      return n;
    };
    const multiplier = num('priceMultiplier', 0) ?? DEFAULT_TIER_PRICE_MULTIPLIER[tier];
    const price = {
      inputPerMTokUsd: num('priceInputPerM', 0) ?? standard.inputPerMTokUsd * multiplier,
      outputPerMTokUsd: num('priceOutputPerM', 0) ?? standard.outputPerMTokUsd * multiplier,
    };
    if (tier === 'flex') {
      return {
        tier,
        price,
        latencyMs: num('latencyMs', 0),
        tokensPerSec: num('tokensPerSec', 0.001),
        timeoutMs: num('timeoutMs', 1, true),
      };
    }
    return {
      tier,
      price,
      batch: {
        expectedMs: withinWindow(num('expectedMs', 1, true), `${at}.expectedMs`),
        pollMs: num('pollMs', 10, true) ?? 60_000,
        collectMs: num('collectMs', 0, true) ?? 10_000,
        maxLines: num('maxLines', 1, true) ?? 50_000,
      },
    };
  });
}

function withinWindow(ms: number | undefined, name: string): number {
  if (ms === undefined) return BATCH_WINDOW_MS;
  if (ms > BATCH_WINDOW_MS) throw new ConfigError(name, `at most the 24 h window (${BATCH_WINDOW_MS} ms)`, String(ms));
  return ms;
}
