import { SENSITIVITY_LEVELS, type Sensitivity } from '#libs/routing/src/sensitivity.js';
import type { Price } from '#libs/routing/src/cost.js';
import { EnvReader } from './env-reader.js';

export interface LocalModelConfig {
  /** GGUF file; null means "use the generated demo model" (the launcher fills it in). */
  modelPath: string | null;
  name: string;
  threads: number;
  contextSize: number;
  sequences: number;
  gpu: 'auto' | 'none' | 'cuda' | 'vulkan' | 'metal';
  /** Per-sequence generation speed assumed until the pool has measured its own. */
  tokensPerSecDefault: number;
  /** Amortized hardware + power, so local work reports a cost too. */
  price: Price;
}

export interface CloudProviderConfig {
  name: string;
  baseURL: string;
  apiKey: string;
  model: string;
  clearance: Sensitivity;
  timeoutMs: number;
  maxRetries: number;
  /** Requests in flight at once from one worker. */
  concurrency: number;
  /** For deadline estimates until measured: time to first token and generation speed. */
  latencyMs: number;
  tokensPerSec: number;
  price: Price;
}

export interface QueueTuning {
  /** How long a worker's lock on a job lasts without renewal; a crashed worker's jobs come back after it. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  attempts: number;
  backoffMs: number;
}

export interface AppConfig {
  http: { host: string; port: number; maxBodyBytes: number; maxItems: number };
  /** null: no REDIS_URL given (the launcher then runs a private redis-server). */
  redisUrl: string | null;
  /** Key prefix for every Redis key (queues and records); lets tests share one server. */
  prefix: string;
  dataDir: string;
  maxOutputTokens: number;
  local: LocalModelConfig;
  cloud: CloudProviderConfig | null;
  queue: QueueTuning;
  shutdownTimeoutMs: number;
  heartbeatMs: number;
}

const GPU_CHOICES = ['auto', 'none', 'cuda', 'vulkan', 'metal'] as const;

/** Parses and validates the environment once, at start-up. Throws ConfigError naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const e = new EnvReader(env);
  const baseURL = e.url('OPENAI_BASE_URL');
  const apiKey = e.secret('OPENAI_API_KEY');
  const cloud: CloudProviderConfig | null =
    baseURL && apiKey
      ? {
          name: e.string('CLOUD_PROVIDER_NAME', 'frontier'),
          baseURL,
          apiKey,
          model: e.string('OPENAI_MODEL', 'gpt-4o-mini'),
          clearance: e.oneOf('CLOUD_MAX_SENSITIVITY', SENSITIVITY_LEVELS, 'internal'),
          timeoutMs: e.int('CLOUD_TIMEOUT_MS', 60_000, 1),
          maxRetries: e.int('CLOUD_MAX_RETRIES', 3, 0, 20),
          concurrency: e.int('CLOUD_CONCURRENCY', 8, 1, 1024),
          latencyMs: e.int('CLOUD_LATENCY_MS', 800, 0),
          tokensPerSec: e.number('CLOUD_TOKENS_PER_SEC', 80, 0.001),
          price: {
            inputPerMTokUsd: e.number('CLOUD_PRICE_INPUT_PER_M', 0.15),
            outputPerMTokUsd: e.number('CLOUD_PRICE_OUTPUT_PER_M', 0.6),
          },
        }
      : null;
  const modelPath = e.optionalString('LOCAL_MODEL_PATH') ?? null;
  return {
    http: {
      host: e.string('HOST', '127.0.0.1'),
      port: e.int('PORT', 3000, 0, 65535),
      maxBodyBytes: e.int('MAX_BODY_BYTES', 10 * 1024 * 1024, 1024),
      maxItems: e.int('MAX_ITEMS_PER_BATCH', 10_000, 1),
    },
    redisUrl: e.url('REDIS_URL') ?? null,
    prefix: e.string('SWITCHYARD_PREFIX', 'switchyard'),
    dataDir: e.string('SWITCHYARD_DATA_DIR', '.data'),
    maxOutputTokens: e.int('MAX_OUTPUT_TOKENS', 512, 1, 131_072),
    local: {
      modelPath,
      name: e.string('LOCAL_MODEL_NAME', modelPath ? modelPath.split('/').pop()!.replace(/\.gguf$/i, '') : 'demo-random'),
      threads: e.int('LOCAL_THREADS', 1, 1, 1024),
      contextSize: e.int('LOCAL_CONTEXT_SIZE', 2048, 64),
      sequences: e.int('LOCAL_SEQUENCES', 1, 1, 256),
      gpu: e.oneOf('LOCAL_GPU', GPU_CHOICES, 'auto'),
      tokensPerSecDefault: e.number('LOCAL_TOKENS_PER_SEC', 20, 0.001),
      price: {
        inputPerMTokUsd: e.number('LOCAL_PRICE_INPUT_PER_M', 0.01),
        outputPerMTokUsd: e.number('LOCAL_PRICE_OUTPUT_PER_M', 0.03),
      },
    },
    cloud,
    queue: {
      lockDurationMs: e.int('JOB_LOCK_MS', 60_000, 1000),
      stalledIntervalMs: e.int('JOB_STALLED_INTERVAL_MS', 30_000, 500),
      maxStalledCount: e.int('JOB_MAX_STALLED', 5, 0, 100),
      attempts: e.int('JOB_ATTEMPTS', 5, 1, 100),
      backoffMs: e.int('JOB_BACKOFF_MS', 1000, 0),
    },
    shutdownTimeoutMs: e.int('SHUTDOWN_TIMEOUT_MS', 10_000, 0),
    heartbeatMs: e.int('HEARTBEAT_MS', 2000, 100),
  };
}
