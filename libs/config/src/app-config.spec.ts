import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvableChatWrapperTypeNames } from 'node-llama-cpp';
import { CHAT_WRAPPER_NAMES, loadConfig } from './app-config.js';

describe('loadConfig', () => {
  it('has working defaults: one local model, no cloud provider', () => {
    const c = loadConfig({});
    expect(c.localModels).toHaveLength(1);
    expect(c.localModels[0]).toMatchObject({ name: 'demo-random', modelPath: null, sequences: 'auto' });
    expect(c.cloudProviders).toEqual([]);
    expect(c.redis).toEqual({ topology: { kind: 'none' }, wait: { replicas: 0, timeoutMs: 2000 } });
  });

  it('enables the frontier provider only when both its URL and key are set', () => {
    expect(loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }).cloudProviders).toEqual([]);
    const c = loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_API_KEY: 'k' });
    expect(c.cloudProviders).toEqual([
      expect.objectContaining({ name: 'frontier', clearance: 'internal', apiKey: 'k' }),
    ]);
  });

  it.each([
    [
      { CLOUD_MAX_SENSITIVITY: 'secret', OPENAI_BASE_URL: 'http://x/v1', OPENAI_API_KEY: 'k' },
      /^CLOUD_MAX_SENSITIVITY: expected one of public, internal, confidential, restricted, got "secret"$/,
    ],
    [{ PORT: 'eighty' }, /^PORT: expected an integer/],
    [{ REDIS_URL: 'not a url' }, /^REDIS_URL: expected an absolute URL/],
    [{ LOCAL_MODELS: '{not json' }, /^LOCAL_MODELS: expected a JSON object/],
    [{ LOCAL_MODELS: '{"a": {}}' }, /^LOCAL_MODELS\.a\.path: expected the path of a GGUF file/],
    [
      { LOCAL_MODELS: '{"a": {"path": "/m.gguf", "sequences": 0}}' },
      /^LOCAL_MODELS\.a\.sequences: expected "auto" or a positive integer/,
    ],
    [{ OPENAI_API_KEY_FILE: '/nonexistent/key' }, /^OPENAI_API_KEY_FILE: expected a readable file/],
    [
      { OPENAI_FILE_MAX_BYTES: '2000', OPENAI_UPLOAD_QUOTA_BYTES: '1000' },
      /^OPENAI_UPLOAD_QUOTA_BYTES: expected at least OPENAI_FILE_MAX_BYTES \(2000\)/,
    ],
  ])('names the variable and the expected form: %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('keeps results 30 days unless RESULT_TTL says otherwise, in any unit, or off', () => {
    expect(loadConfig({}).retention).toEqual({ resultTtlMs: 30 * 86_400_000, sweepIntervalMs: 600_000 });
    expect(loadConfig({ RESULT_TTL: '12h', RETENTION_SWEEP_MS: '30s' }).retention).toEqual({
      resultTtlMs: 12 * 3_600_000,
      sweepIntervalMs: 30_000,
    });
    expect(loadConfig({ RESULT_TTL: '90000' }).retention.resultTtlMs).toBe(90_000);
    // The queues keep finished item jobs (which hold the item's text) no longer than that.
    expect(loadConfig({ RESULT_TTL: '12h' }).queue.resultTtlMs).toBe(43_200_000);
    expect(loadConfig({ RESULT_TTL: 'off' }).queue.resultTtlMs).toBeNull();
    expect(loadConfig({ RESULT_TTL: 'off' }).retention.resultTtlMs).toBeNull();
    expect(() => loadConfig({ RESULT_TTL: '3 weeks' })).toThrow(/RESULT_TTL/);
    expect(() => loadConfig({ RESULT_TTL: '10ms' })).toThrow(/RESULT_TTL/);
    expect(() => loadConfig({ RETENTION_SWEEP_MS: '-1' })).toThrow(/RETENTION_SWEEP_MS/);
  });

  it('names the variable a too-short admin key came from, never its value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-admin-key-'));
    writeFileSync(join(dir, 'empty'), '\n');
    writeFileSync(join(dir, 'short'), 'short-secret\n');
    expect(() => loadConfig({ ADMIN_API_KEY_FILE: join(dir, 'empty') })).toThrow(
      /^ADMIN_API_KEY_FILE: expected a file holding a secret of at least 24 characters \(.*it holds 0\)$/,
    );
    expect(() => loadConfig({ ADMIN_API_KEY_FILE: join(dir, 'short') })).toThrow(
      /^ADMIN_API_KEY_FILE: .*it holds 12\)$/,
    );
    expect(() => loadConfig({ ADMIN_API_KEY: 'short-secret' })).toThrow(
      /^ADMIN_API_KEY: expected a secret of at least 24/,
    );
    try {
      loadConfig({ ADMIN_API_KEY_FILE: join(dir, 'short') });
    } catch (e) {
      expect(String(e)).not.toContain('short-secret');
    }
    rmSync(dir, { recursive: true });
  });

  it('never echoes a secret in an error', () => {
    expect(() => loadConfig({ OPENAI_API_KEY_FILE: '/nonexistent/sk-secret' })).toThrow(/nonexistent/);
    try {
      loadConfig({ OPENAI_BASE_URL: 'bad', OPENAI_API_KEY: 'sk-live-123' });
    } catch (e) {
      expect(String(e)).not.toContain('sk-live-123');
    }
  });

  it('reads several cloud providers, each key from the env variable it names', () => {
    const c = loadConfig({
      FRONTIER_KEY: 'sk-front',
      SOVEREIGN_KEY: 'sk-sov',
      CLOUD_PROVIDERS: JSON.stringify([
        {
          name: 'frontier',
          baseURL: 'https://api.example/v1',
          model: 'm1',
          clearance: 'internal',
          apiKeyEnv: 'FRONTIER_KEY',
          requestsPerMinute: 60,
        },
        {
          name: 'sovereign',
          baseURL: 'https://eu.example/v1',
          model: 'm2',
          clearance: 'confidential',
          apiKeyEnv: 'SOVEREIGN_KEY',
          priceOutputPerM: 2,
        },
      ]),
    });
    expect(
      c.cloudProviders.map((p) => [p.name, p.clearance, p.apiKey, p.requestsPerMinute, p.price.outputPerMTokUsd]),
    ).toEqual([
      ['frontier', 'internal', 'sk-front', 60, 0.6],
      ['sovereign', 'confidential', 'sk-sov', null, 2],
    ]);
  });

  it('gives each cloud provider a context window: 128k by default, CLOUD_CONTEXT_TOKENS, or its own contextTokens', () => {
    const one = { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_API_KEY: 'k' };
    expect(loadConfig(one).cloudProviders[0].contextTokens).toBe(128_000);
    expect(loadConfig({ ...one, CLOUD_CONTEXT_TOKENS: '8192' }).cloudProviders[0].contextTokens).toBe(8192);
    expect(() => loadConfig({ ...one, CLOUD_CONTEXT_TOKENS: '100' })).toThrow(
      /^CLOUD_CONTEXT_TOKENS: expected an integer from 256/,
    );
    const provider = { name: 'x', baseURL: 'https://x/v1', model: 'm', apiKeyEnv: 'X_KEY' };
    const several = (p: object) =>
      loadConfig({ X_KEY: 'k', CLOUD_CONTEXT_TOKENS: '4096', CLOUD_PROVIDERS: JSON.stringify([p]) }).cloudProviders[0]
        .contextTokens;
    expect(several(provider)).toBe(4096);
    expect(several({ ...provider, contextTokens: 32_768 })).toBe(32_768);
    expect(() => several({ ...provider, contextTokens: 1000.5 })).toThrow(
      /^CLOUD_PROVIDERS\[0\]\.contextTokens: expected an integer/,
    );
  });

  it('names the provider field that is wrong, and refuses a key written into the JSON', () => {
    const provider = { name: 'x', baseURL: 'https://x/v1', model: 'm', apiKeyEnv: 'NOPE' };
    expect(() => loadConfig({ CLOUD_PROVIDERS: JSON.stringify([provider]) })).toThrow(
      /^NOPE: expected the API key of CLOUD_PROVIDERS\[0\]/,
    );
    expect(() =>
      loadConfig({ CLOUD_PROVIDERS: JSON.stringify([{ ...provider, apiKeyEnv: undefined, apiKey: 'sk-inline' }]) }),
    ).toThrow(/^CLOUD_PROVIDERS\[0\]: expected an "apiKeyEnv" or "apiKeyFile"/);
    expect(() =>
      loadConfig({ K: 'k', CLOUD_PROVIDERS: JSON.stringify([{ ...provider, apiKeyEnv: 'K', clearance: 'secret' }]) }),
    ).toThrow(/^CLOUD_PROVIDERS\[0\]\.clearance: expected one of/);
  });

  it('reads several local models, with per-model prices and sequences', () => {
    const c = loadConfig({
      LOCAL_MODELS: JSON.stringify({
        big: { path: '/b.gguf', sequences: 4, priceOutputPerM: 0.1 },
        small: { path: '/s.gguf' },
      }),
    });
    expect(c.localModels.map((m) => [m.name, m.sequences, m.price.outputPerMTokUsd])).toEqual([
      ['big', 4, 0.1],
      ['small', 'auto', 0.03],
    ]);
  });

  it("names a model after its file, made a valid name, unless LOCAL_MODEL_NAME is set (the README's example)", () => {
    const nameOf = (path: string) => loadConfig({ LOCAL_MODEL_PATH: path }).localModels[0].name;
    expect(nameOf('/models/qwen2.5-7b-instruct-q4_k_m.gguf')).toBe('qwen2-5-7b-instruct-q4_k_m');
    expect(nameOf('/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf')).toBe('Meta-Llama-3-1-8B-Instruct-Q4_K_M');
    expect(nameOf('/models/Mistral-7B-v0.3 (copy).gguf')).toBe('Mistral-7B-v0-3-copy');
    expect(nameOf('/models/.hidden..model.GGUF')).toBe('hidden-model');
    const blob = `sha256-${'0123456789abcdef'.repeat(4)}`;
    expect(nameOf(`/root/.ollama/models/blobs/${blob}`)).toBe(blob.slice(0, 63));
    expect(loadConfig({ LOCAL_MODEL_PATH: '/models/qwen2.5.gguf' }).localModels[0].modelPath).toBe(
      '/models/qwen2.5.gguf',
    );
  });

  it('holds an explicit LOCAL_MODEL_NAME to the strict form, and asks for one where the file name gives none', () => {
    const env = { LOCAL_MODEL_PATH: '/models/qwen2.5-7b.gguf' };
    expect(loadConfig({ ...env, LOCAL_MODEL_NAME: 'qwen' }).localModels[0].name).toBe('qwen');
    expect(() => loadConfig({ ...env, LOCAL_MODEL_NAME: 'qwen2.5' })).toThrow(
      /^LOCAL_MODEL_NAME: expected letters.*"qwen2\.5"$/,
    );
    expect(() => loadConfig({ LOCAL_MODEL_PATH: '/models/模型.gguf' })).toThrow(/^LOCAL_MODEL_NAME: expected a name/);
  });

  it('keeps the derived name in the one namespace of queues: an engine pool may not take it', () => {
    const pool = {
      name: 'qwen2-5-7b',
      engine: 'vllm',
      baseURL: 'http://10.0.0.7:8000/v1',
      onPremises: true,
      clearance: 'internal',
    };
    const env = { LOCAL_MODEL_PATH: '/models/qwen2.5-7b.gguf', ENGINE_POOLS: JSON.stringify([pool]) };
    expect(() => loadConfig(env)).toThrow(/^ENGINE_POOLS\[0\]\.name: .*got "qwen2-5-7b"/);
  });

  it('lays prompts out as the model file says unless LOCAL_CHAT_WRAPPER or a model pins a wrapper', () => {
    expect(loadConfig({}).localModels[0].chatWrapper).toBe('auto');
    expect(loadConfig({ LOCAL_CHAT_WRAPPER: 'llama3.1' }).localModels[0].chatWrapper).toBe('llama3.1');
    const c = loadConfig({
      LOCAL_CHAT_WRAPPER: 'chatML',
      LOCAL_MODELS: JSON.stringify({ a: { path: '/a.gguf', chatWrapper: 'mistral' }, b: { path: '/b.gguf' } }),
    });
    expect(c.localModels.map((m) => m.chatWrapper)).toEqual(['mistral', 'chatML']);
    expect(() => loadConfig({ LOCAL_CHAT_WRAPPER: 'llama4' })).toThrow(/^LOCAL_CHAT_WRAPPER: expected one of auto, /);
    expect(() =>
      loadConfig({ LOCAL_MODELS: JSON.stringify({ a: { path: '/a.gguf', chatWrapper: 'template' } }) }),
    ).toThrow(/^LOCAL_MODELS\.a\.chatWrapper: expected one of auto, /);
  });

  it("offers node-llama-cpp's chat wrappers, all but the one that needs templates of its own", () => {
    expect([...CHAT_WRAPPER_NAMES].sort()).toEqual(
      resolvableChatWrapperTypeNames.filter((name) => name !== 'template').sort(),
    );
  });
});
