import { SENSITIVITY_LEVELS, type Sensitivity } from '#libs/domain';
import type { Price } from '#libs/domain';
import { DEFAULT_ESCALATION_INTERVAL_MS, DEFAULT_PREEMPT_SLACK_MS, DEFAULT_PROBE_TIMEOUT_MS } from '#libs/routing';
import { cloudProviders, type CloudProviderConfig } from './cloud-providers.js';
import { enginePools, type EnginePoolConfig } from './engine-pools.js';
import { ConfigError } from '#libs/domain';
import { parsePiiRules, type PiiRules } from '#libs/privacy';
import { DEFAULT_BRANCH_AUTHOR, parseGitIdentity, type GitIdentity } from '#libs/domain';

export type { CloudProviderConfig } from './cloud-providers.js';
import { EnvReader } from './env-reader.js';
import { loadLogConfig } from './log-config.js';
import type { LogSettings } from '#libs/logging';
import { redisConfig, type RedisConfig } from './redis-topology.js';

/** One local model: its own queue, pools and measured throughput; the router sees it as a provider. */
export interface LocalModelConfig {
  name: string;
  /** GGUF file; null means "use the generated demo model" (the worker or launcher fills it in). */
  modelPath: string | null;
  /** Tokens per sequence (prompt + output). */
  contextSize: number;
  /** 'auto': as many as fit in device memory (bounded by maxSequences); a number: exactly that many. */
  sequences: number | 'auto';
  maxSequences: number | null;
  /** Per-sequence generation speed assumed until the pool has measured its own. */
  tokensPerSecDefault: number;
  /** Amortized hardware + power, so local work reports a cost too. */
  price: Price;
  /**
   * How prompts are laid out for the model (LOCAL_CHAT_WRAPPER): 'auto' matches the GGUF's own chat template to
   * one of node-llama-cpp's wrappers, else uses it as Jinja; a wrapper name pins it (a file with no template,
   * or one node-llama-cpp misreads); 'jinjaTemplate' uses the file's own template as it is.
   */
  chatWrapper: ChatWrapperName;
}

/**
 * node-llama-cpp's chat wrappers a model may be pinned to (its resolvableChatWrapperTypeNames, less 'template',
 * which needs templates of its own). app-config.spec.ts holds this list to node-llama-cpp's.
 */
export const CHAT_WRAPPER_NAMES = [
  'auto',
  'general',
  'deepSeek',
  'qwen',
  'llama3.2-lightweight',
  'llama3.1',
  'llama3',
  'llama2Chat',
  'mistral',
  'alpacaChat',
  'functionary',
  'chatML',
  'falconChat',
  'gemma4',
  'gemma',
  'harmony',
  'muse',
  'seed',
  'jinjaTemplate',
] as const;
export type ChatWrapperName = (typeof CHAT_WRAPPER_NAMES)[number];

/** The engine all local models of a worker share. */
export interface LocalEngineConfig {
  threads: number;
  gpu: 'auto' | 'none' | 'cuda' | 'vulkan' | 'metal';
  /** Share of free device memory the pools may plan to use (weights + contexts). */
  memoryUtilization: number;
  /** How often a pool re-reads free memory to shrink or grow its sequences. */
  memoryCheckMs: number;
  /** Models this worker serves (names from localModels); empty: all. */
  serve: string[];
  /**
   * Preemption (libs/routing): a running item due at least this far off (LOCAL_PREEMPT_SLACK_MS, default 30
   * minutes; `off`: never) gives its sequence to a waiting item due before it, and runs again from the start
   * later. The pools look for such an item every LOCAL_PREEMPT_CHECK_MS while all their sequences are busy.
   */
  preemption: { slackMs: number | null; checkMs: number };
}

export interface QueueTuning {
  /** How long a worker's lock on a job lasts without renewal; a crashed worker's jobs come back after it. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  attempts: number;
  backoffMs: number;
  /** The callbacks queue (issue 15 §5): a receiver may be down for hours, so it retries longer than items do. */
  callbacks?: { attempts: number; backoffMs: number };
  /**
   * RESULT_TTL (null: off). A finished item job holds the item's text; it is not kept longer than the batch's
   * results are.
   */
  resultTtlMs?: number | null;
}

/** Signed callbacks (docs/api.md#callbacks). */
export interface CallbacksConfig {
  /**
   * CALLBACK_ALLOWED_NETWORKS: CIDR ranges inside the internal ones (loopback, private, link-local) that
   * callback URLs may reach; empty (the default): none, every callback goes to a public address.
   */
  allowedNetworks: string[];
  /** How long one delivery attempt may take, connect to answer (CALLBACK_TIMEOUT_MS). */
  timeoutMs: number;
}

/** API keys and per-key limits (libs/access). */
export interface AccessConfig {
  /** ADMIN_API_KEY (or _FILE): an admin key that needs no key store, to bootstrap or recover. */
  adminApiKey: string | null;
  /** Defaults for every key (a key may carry its own); 0 means unlimited. */
  rateLimits: { requestsPerMinute: number; tokensPerMinute: number };
}

/** Below this a bootstrap key is guessable; generated keys carry 256 bits. */
const MIN_ADMIN_KEY_CHARS = 24;

function accessConfig(e: EnvReader): AccessConfig {
  const adminApiKey = e.secret('ADMIN_API_KEY') ?? null;
  if (adminApiKey !== null && adminApiKey.length < MIN_ADMIN_KEY_CHARS) {
    // Named by where it came from: an empty ADMIN_API_KEY_FILE blamed ADMIN_API_KEY, which the operator never set.
    const source = e.secretSource('ADMIN_API_KEY');
    const what = source.endsWith('_FILE') ? 'a file holding a secret' : 'a secret';
    throw new ConfigError(
      source,
      `${what} of at least ${MIN_ADMIN_KEY_CHARS} characters (e.g. openssl rand -base64 32; it holds ${adminApiKey.length})`,
    );
  }
  return {
    adminApiKey,
    rateLimits: {
      requestsPerMinute: e.int('RATE_LIMIT_REQUESTS_PER_MINUTE', 600, 0),
      tokensPerMinute: e.int('RATE_LIMIT_TOKENS_PER_MINUTE', 5_000_000, 0),
    },
  };
}

export interface AppConfig {
  http: {
    host: string;
    port: number;
    maxBodyBytes: number;
    maxItems: number;
    /** Items from which a POSTed batch is answered `validating` and expanded by a worker (INTAKE_DEFER_ITEMS; 0: never). */
    deferFromItems: number;
    maxItemBytes: number;
    /** Server-Sent Event streams open at once, per API process (SSE_MAX_STREAMS) and per key (SSE_MAX_STREAMS_PER_KEY). */
    maxStreams: number;
    maxStreamsPerKey: number;
  };
  access: AccessConfig;
  /**
   * Where Redis is (one server, a Cluster or a Sentinel-managed master; `none`: the launcher runs a private
   * redis-server) and how many replicas must hold a batch before it is acknowledged.
   */
  redis: RedisConfig;
  /** Key prefix for every Redis key (queues and records); lets tests share one server. */
  prefix: string;
  dataDir: string;
  /**
   * The OpenAI-compatible batch API (issue 16 §1): the most bytes an uploaded file may hold, the requests it may
   * hold (OPENAI_BATCH_MAX_LINES, OpenAI's own limit by default), and the sensitivity of a batch whose metadata
   * names none (PII detection may raise each item's).
   */
  openai: { maxFileBytes: number; uploadQuotaBytes: number; maxLines: number; defaultSensitivity: Sensitivity };
  maxOutputTokens: number;
  /** At least one; the first is where items without a named model fall back to. */
  localModels: LocalModelConfig[];
  engine: LocalEngineConfig;
  /** Any number of OpenAI-compatible providers, each with its own clearance, prices and limits. */
  cloudProviders: CloudProviderConfig[];
  /**
   * Serving engines the operator runs on premises (ENGINE_POOLS: llama-server, vLLM), each a local route with
   * its own queue and a concurrency read from the engine (issue 17 §4).
   */
  enginePools: EnginePoolConfig[];
  queue: QueueTuning;
  shutdownTimeoutMs: number;
  heartbeatMs: number;
  /**
   * Per provider: consecutive failures that open its circuit, how long it stays open before a probe, and
   * how long that one-token probe may take to answer.
   */
  circuit: { failureThreshold: number; openMs: number; probeTimeoutMs: number; closedViewMs: number };
  /**
   * How long a provider's learned inability (structured output refused for several items) is believed
   * before such requests are sent to it again (CAPABILITY_MEMORY_MS).
   */
  capabilityMemoryMs: number;
  /** How often the escalation watchdog re-checks waiting local items against their deadlines. */
  escalationIntervalMs: number;
  /**
   * Capacity that is coming (issue 19): how long a local model whose pools are loading, restarting or gone counts
   * as coming (POOL_GRACE_MS; null: three of its measured loads, at least 30 s), and the load time expected before
   * one is measured (POOL_LOAD_ESTIMATE_MS).
   */
  pools: { graceMs: number | null; loadEstimateMs: number };
  /** Which personal data raises an item's sensitivity, and to what (PII_RULES). */
  piiRules: PiiRules;
  /** Author and committer of branch outputs (BRANCH_OUTPUT_AUTHOR, "Name <email>"). */
  branchOutputAuthor: GitIdentity;
  /** Audit trail retention (AUDIT_MAX_ENTRIES): null keeps every entry; a number keeps about that many newest. */
  audit: { maxEntries: number | null };
  /**
   * Results retention (issue 17 §2): a batch finished more than RESULT_TTL ago (default 30 days; `off` keeps
   * every batch) is deleted with its items by a sweep every RETENTION_SWEEP_MS (default 10 minutes).
   */
  retention: { resultTtlMs: number | null; sweepIntervalMs: number };
  /**
   * The shortest interval a schedule may fire at (SCHEDULE_MIN_INTERVAL_MS, default one minute): a schedule
   * firing every second is a loop that walks around a key's limits, not a standing order (issue 13 §3).
   */
  schedules: { minIntervalMs: number };
  /** LOG_FORMAT (json, pretty; by default pretty on a terminal) and LOG_LEVEL. */
  log: LogSettings;
  /**
   * The worker's Prometheus listener (GET /metrics): off while METRICS_PORT is unset, so two workers on one
   * host never race for a port nobody asked for; on loopback unless METRICS_HOST opens it. The API serves
   * /metrics on its own port instead (scope `metrics`).
   */
  metrics: { host: string; port: number | null };
  callbacks: CallbacksConfig;
}

const GPU_CHOICES = ['auto', 'none', 'cuda', 'vulkan', 'metal'] as const;
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/**
 * LOCAL_MODELS (JSON: name → {path, contextSize, sequences, maxSequences, tokensPerSec, priceInputPerM,
 * priceOutputPerM, chatWrapper}) or, without it, one model from LOCAL_MODEL_PATH and the LOCAL_* defaults.
 */
function localModels(e: EnvReader): LocalModelConfig[] {
  const defaults = {
    contextSize: e.int('LOCAL_CONTEXT_SIZE', 2048, 64),
    sequences:
      e.optionalString('LOCAL_SEQUENCES') === 'auto'
        ? ('auto' as const)
        : e.int('LOCAL_SEQUENCES', 0, 0, 256) || ('auto' as const),
    maxSequences: e.int('LOCAL_MAX_SEQUENCES', 0, 0, 256) || null,
    tokensPerSecDefault: e.number('LOCAL_TOKENS_PER_SEC', 20, 0.001),
    chatWrapper: e.oneOf('LOCAL_CHAT_WRAPPER', CHAT_WRAPPER_NAMES, 'auto'),
    price: {
      inputPerMTokUsd: e.number('LOCAL_PRICE_INPUT_PER_M', 0.01),
      outputPerMTokUsd: e.number('LOCAL_PRICE_OUTPUT_PER_M', 0.03),
    },
  };
  const raw = e.optionalString('LOCAL_MODELS');
  if (raw === undefined) {
    const modelPath = e.optionalString('LOCAL_MODEL_PATH') ?? null;
    const explicit = e.optionalString('LOCAL_MODEL_NAME');
    if (explicit !== undefined && !MODEL_NAME.test(explicit))
      throw new ConfigError('LOCAL_MODEL_NAME', 'letters, digits, "-" and "_" (up to 63)', explicit);
    const name = explicit ?? (modelPath === null ? 'demo-random' : nameFromModelPath(modelPath));
    // A file name without a letter or digit gives no name: the operator must choose one.
    if (!MODEL_NAME.test(name))
      throw new ConfigError(
        'LOCAL_MODEL_NAME',
        'a name where the file name of LOCAL_MODEL_PATH gives none',
        modelPath!,
      );
    return [{ name, modelPath, ...defaults }];
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('LOCAL_MODELS', 'a JSON object of name → {"path": …}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.keys(parsed).length === 0) {
    throw new ConfigError('LOCAL_MODELS', 'a non-empty JSON object of name → {"path": …}');
  }
  return Object.entries(parsed as Record<string, Record<string, unknown>>).map(([name, m]) => {
    const where = `LOCAL_MODELS.${name}`;
    if (!MODEL_NAME.test(name)) throw new ConfigError(where, 'a name of letters, digits, "-" and "_"');
    const num = (key: string, fallback: number, min: number): number => {
      const v = m?.[key];
      if (v === undefined) return fallback;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
        throw new ConfigError(`${where}.${key}`, `a number ≥ ${min}`, String(v));
      return v;
    };
    if (typeof m?.path !== 'string' || m.path === '') throw new ConfigError(`${where}.path`, 'the path of a GGUF file');
    const seq = m.sequences;
    if (seq !== undefined && seq !== 'auto' && !(Number.isInteger(seq) && (seq as number) >= 1)) {
      throw new ConfigError(`${where}.sequences`, '"auto" or a positive integer', String(seq));
    }
    const wrapper = m.chatWrapper;
    if (wrapper !== undefined && !CHAT_WRAPPER_NAMES.includes(wrapper as ChatWrapperName))
      throw new ConfigError(`${where}.chatWrapper`, `one of ${CHAT_WRAPPER_NAMES.join(', ')}`, String(wrapper));
    return {
      name,
      modelPath: m.path,
      contextSize: num('contextSize', defaults.contextSize, 64),
      sequences: (seq as number | 'auto' | undefined) ?? defaults.sequences,
      maxSequences: m.maxSequences === undefined ? defaults.maxSequences : num('maxSequences', 1, 1),
      tokensPerSecDefault: num('tokensPerSec', defaults.tokensPerSecDefault, 0.001),
      chatWrapper: (wrapper as ChatWrapperName | undefined) ?? defaults.chatWrapper,
      price: {
        inputPerMTokUsd: num('priceInputPerM', defaults.price.inputPerMTokUsd, 0),
        outputPerMTokUsd: num('priceOutputPerM', defaults.price.outputPerMTokUsd, 0),
      },
    };
  });
}

/**
 * The name of a model set by LOCAL_MODEL_PATH alone: its file name without `.gguf`, made a valid name (it names the
 * model's queue and metrics): other characters than letters, digits, "-" and "_" become "-" (so
 * `qwen2.5-7b-instruct-q4_k_m.gguf` is `qwen2-5-7b-instruct-q4_k_m`), runs of "-" one, and it starts with a letter
 * or digit and is cut to 63 (an Ollama blob, `sha256-<64 hex>`, keeps its first 56 digits). Only one model is
 * named so: LOCAL_MODELS names each of its own.
 */
export function nameFromModelPath(modelPath: string): string {
  const file = modelPath
    .split(/[\\/]/)
    .pop()!
    .replace(/\.gguf$/i, '');
  return file
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

/** Parses and validates the environment once, at start-up. Throws ConfigError naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const e = new EnvReader(env);
  const models = localModels(e);
  const providers = cloudProviders(e, env);
  const taken = new Set([...models.map((m) => m.name), ...providers.map((p) => p.name)]);
  const resultTtlMs =
    e.optionalString('RESULT_TTL')?.trim() === 'off' ? null : e.durationMs('RESULT_TTL', 30 * 86_400_000, 1000);
  return {
    http: {
      host: e.string('HOST', '127.0.0.1'),
      port: e.int('PORT', 3000, 0, 65535),
      maxBodyBytes: e.int('MAX_BODY_BYTES', 10 * 1024 * 1024, 1024),
      maxItems: e.int('MAX_ITEMS_PER_BATCH', 10_000, 1),
      deferFromItems: e.int('INTAKE_DEFER_ITEMS', 5_000, 0),
      maxItemBytes: e.int('MAX_ITEM_BYTES', 1024 * 1024, 1),
      maxStreams: e.int('SSE_MAX_STREAMS', 256, 1),
      maxStreamsPerKey: e.int('SSE_MAX_STREAMS_PER_KEY', 16, 1),
    },
    access: accessConfig(e),
    redis: redisConfig(e),
    prefix: e.string('SWITCHYARD_PREFIX', 'switchyard'),
    dataDir: e.string('SWITCHYARD_DATA_DIR', '.data'),
    openai: openAIConfig(e),
    maxOutputTokens: e.int('MAX_OUTPUT_TOKENS', 512, 1, 131_072),
    localModels: models,
    engine: {
      threads: e.int('LOCAL_THREADS', 1, 1, 1024),
      gpu: e.oneOf('LOCAL_GPU', GPU_CHOICES, 'auto'),
      memoryUtilization: e.number('LOCAL_MEMORY_UTILIZATION', 0.9, 0.05, 1),
      memoryCheckMs: e.int('LOCAL_MEMORY_CHECK_MS', 5000, 100),
      serve: (e.optionalString('WORKER_MODELS') ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      preemption: {
        slackMs:
          e.optionalString('LOCAL_PREEMPT_SLACK_MS')?.trim() === 'off'
            ? null
            : e.durationMs('LOCAL_PREEMPT_SLACK_MS', DEFAULT_PREEMPT_SLACK_MS, 1000),
        checkMs: e.int('LOCAL_PREEMPT_CHECK_MS', 1000, 50),
      },
    },
    cloudProviders: providers,
    enginePools: enginePools(e, env, taken),
    queue: {
      lockDurationMs: e.int('JOB_LOCK_MS', 60_000, 1000),
      stalledIntervalMs: e.int('JOB_STALLED_INTERVAL_MS', 30_000, 500),
      maxStalledCount: e.int('JOB_MAX_STALLED', 5, 0, 100),
      attempts: e.int('JOB_ATTEMPTS', 5, 1, 100),
      backoffMs: e.int('JOB_BACKOFF_MS', 1000, 0),
      callbacks: {
        attempts: e.int('CALLBACK_ATTEMPTS', 15, 1, 100),
        backoffMs: e.int('CALLBACK_BACKOFF_MS', 2000, 0),
      },
      resultTtlMs,
    },
    shutdownTimeoutMs: e.int('SHUTDOWN_TIMEOUT_MS', 10_000, 0),
    heartbeatMs: e.int('HEARTBEAT_MS', 2000, 100),
    schedules: { minIntervalMs: e.int('SCHEDULE_MIN_INTERVAL_MS', 60_000, 1000, 3_600_000) },
    circuit: {
      failureThreshold: e.int('CIRCUIT_FAILURE_THRESHOLD', 5, 1),
      openMs: e.int('CIRCUIT_OPEN_MS', 30_000, 100),
      probeTimeoutMs: e.int('CIRCUIT_PROBE_TIMEOUT_MS', DEFAULT_PROBE_TIMEOUT_MS, 100),
      closedViewMs: e.int('CIRCUIT_CLOSED_VIEW_MS', 1000, 0, 60_000),
    },
    capabilityMemoryMs: e.int('CAPABILITY_MEMORY_MS', 3_600_000, 1000),
    escalationIntervalMs: e.int('ESCALATION_INTERVAL_MS', DEFAULT_ESCALATION_INTERVAL_MS, 100),
    pools: {
      graceMs: e.int('POOL_GRACE_MS', 0, 0) || null,
      loadEstimateMs: e.int('POOL_LOAD_ESTIMATE_MS', 60_000, 0),
    },
    piiRules: parsePiiRules(e.optionalString('PII_RULES')),
    branchOutputAuthor: branchOutputAuthor(e.optionalString('BRANCH_OUTPUT_AUTHOR')),
    audit: { maxEntries: e.int('AUDIT_MAX_ENTRIES', 0, 0) || null },
    retention: {
      resultTtlMs,
      sweepIntervalMs: e.durationMs('RETENTION_SWEEP_MS', 600_000, 1000),
    },
    log: loadLogConfig(env),
    metrics: {
      host: e.string('METRICS_HOST', '127.0.0.1'),
      port: e.optionalString('METRICS_PORT') === undefined ? null : e.int('METRICS_PORT', 0, 0, 65535),
    },
    callbacks: {
      allowedNetworks: (e.optionalString('CALLBACK_ALLOWED_NETWORKS') ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      timeoutMs: e.int('CALLBACK_TIMEOUT_MS', 10_000, 100, 120_000),
    },
  };
}

function branchOutputAuthor(value: string | undefined): GitIdentity {
  if (value === undefined) return DEFAULT_BRANCH_AUTHOR;
  const identity = parseGitIdentity(value);
  if (!identity) throw new ConfigError('BRANCH_OUTPUT_AUTHOR', '"Name <email>"', value);
  return identity;
}

/** The OpenAI-compatible surface's limits: one file, a tenant's uploads kept at once (at least one whole file). */
function openAIConfig(e: EnvReader): AppConfig['openai'] {
  const maxFileBytes = e.int('OPENAI_FILE_MAX_BYTES', 50 * 1024 * 1024, 1);
  const uploadQuotaBytes = e.int('OPENAI_UPLOAD_QUOTA_BYTES', Math.max(512 * 1024 * 1024, maxFileBytes), 1);
  if (uploadQuotaBytes < maxFileBytes)
    throw new ConfigError(
      'OPENAI_UPLOAD_QUOTA_BYTES',
      `at least OPENAI_FILE_MAX_BYTES (${maxFileBytes}), or no file of the largest size could be uploaded`,
      String(uploadQuotaBytes),
    );
  return {
    maxFileBytes,
    uploadQuotaBytes,
    maxLines: e.int('OPENAI_BATCH_MAX_LINES', 50_000, 1),
    defaultSensitivity: e.oneOf('OPENAI_BATCH_SENSITIVITY', SENSITIVITY_LEVELS, 'internal'),
  };
}
