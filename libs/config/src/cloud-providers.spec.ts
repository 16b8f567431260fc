import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './app-config.js';

describe('cloud provider keys from files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };

  it('remembers the file a key came from, so the worker can re-read it; a key from the env has none', () => {
    const path = file('openai', 'sk-from-file\n');
    const [fromFile] = loadConfig({
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
      OPENAI_API_KEY_FILE: path,
    }).cloudProviders;
    expect(fromFile).toMatchObject({ apiKey: 'sk-from-file', apiKeyFile: path });
    const [fromEnv] = loadConfig({
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
      OPENAI_API_KEY: 'sk-env',
      OPENAI_API_KEY_FILE: path,
    }).cloudProviders;
    expect(fromEnv).toMatchObject({ apiKey: 'sk-env', apiKeyFile: null });
  });

  it('does the same for CLOUD_PROVIDERS entries, and refuses an empty key file', () => {
    const path = file('sovereign', 'sk-sov');
    const providers = loadConfig({
      K: 'sk-k',
      CLOUD_PROVIDERS: JSON.stringify([
        { name: 'a', baseURL: 'https://a/v1', model: 'm', apiKeyFile: path },
        { name: 'b', baseURL: 'https://b/v1', model: 'm', apiKeyEnv: 'K' },
      ]),
    }).cloudProviders;
    expect(providers.map((p) => [p.apiKey, p.apiKeyFile])).toEqual([
      ['sk-sov', path],
      ['sk-k', null],
    ]);
    const empty = file('empty', '\n');
    expect(() =>
      loadConfig({
        CLOUD_PROVIDERS: JSON.stringify([{ name: 'a', baseURL: 'https://a/v1', model: 'm', apiKeyFile: empty }]),
      }),
    ).toThrow(/^CLOUD_PROVIDERS\[0\]\.apiKeyFile: expected a file holding the key/);
  });
});

describe('clearance above confidential (issue 13 §6)', () => {
  const base = { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_API_KEY: 'k' };
  const one = (p: Record<string, unknown>) => ({
    K: 'k',
    CLOUD_PROVIDERS: JSON.stringify([{ name: 'a', baseURL: 'https://a/v1', model: 'm', apiKeyEnv: 'K', ...p }]),
  });

  it('refuses CLOUD_MAX_SENSITIVITY=restricted for a provider not declared on premises, naming the setting', () => {
    expect(() => loadConfig({ ...base, CLOUD_MAX_SENSITIVITY: 'restricted' })).toThrow(
      /^CLOUD_MAX_SENSITIVITY: expected at most "confidential" for a remote provider.*CLOUD_ON_PREMISES=true/,
    );
    expect(() => loadConfig({ ...base, CLOUD_MAX_SENSITIVITY: 'restricted', CLOUD_ON_PREMISES: 'false' })).toThrow(
      /^CLOUD_MAX_SENSITIVITY:/,
    );
  });

  it('takes restricted once the single provider is declared on premises, and says so', () => {
    const [p] = loadConfig({ ...base, CLOUD_MAX_SENSITIVITY: 'restricted', CLOUD_ON_PREMISES: 'true' }).cloudProviders;
    expect(p).toMatchObject({ clearance: 'restricted', onPremises: true });
    expect(loadConfig(base).cloudProviders[0].onPremises).toBe(false);
    expect(() => loadConfig({ ...base, CLOUD_ON_PREMISES: 'yes' })).toThrow(
      /^CLOUD_ON_PREMISES: expected true or false, got "yes"$/,
    );
  });

  it('refuses "clearance": "restricted" in CLOUD_PROVIDERS unless that provider says "onPremises": true', () => {
    expect(() => loadConfig(one({ clearance: 'restricted' }))).toThrow(
      /^CLOUD_PROVIDERS\[0\]\.clearance: expected at most "confidential".*"onPremises": true/,
    );
    expect(() => loadConfig(one({ clearance: 'restricted', onPremises: 'true' }))).toThrow(
      /^CLOUD_PROVIDERS\[0\]\.onPremises: expected true or false/,
    );
    expect(loadConfig(one({ clearance: 'restricted', onPremises: true })).cloudProviders[0]).toMatchObject({
      clearance: 'restricted',
      onPremises: true,
    });
    // Confidential and below need no declaration; one given is still shown.
    expect(loadConfig(one({ clearance: 'confidential' })).cloudProviders[0].onPremises).toBe(false);
    expect(loadConfig(one({ clearance: 'internal', onPremises: true })).cloudProviders[0].onPremises).toBe(true);
  });
});

describe('cloud tiers (issue 16 §3)', () => {
  const provider = (p: Record<string, unknown> = {}) => ({
    K: 'k',
    CLOUD_PROVIDERS: JSON.stringify([
      { name: 'frontier', baseURL: 'https://a/v1', model: 'm', apiKeyEnv: 'K', clearance: 'internal', ...p },
    ]),
  });

  it('declares only the standard route by default, named as the provider, so existing configs behave as before', () => {
    const routes = loadConfig(provider()).cloudProviders;
    expect(routes.map((r) => [r.name, r.provider, r.tier])).toEqual([['frontier', 'frontier', 'standard']]);
    const single = loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_API_KEY: 'k' }).cloudProviders;
    expect(single.map((r) => [r.name, r.tier])).toEqual([['frontier', 'standard']]);
  });

  it('adds one route per tier, with the provider’s endpoint and clearance and the tier’s own price', () => {
    const routes = loadConfig(
      provider({
        priceInputPerM: 1,
        priceOutputPerM: 4,
        tiers: { flex: { latencyMs: 5000, timeoutMs: 900_000 }, batch: { priceInputPerM: 0.4, expectedMs: 3_600_000 } },
      }),
    ).cloudProviders;
    expect(routes.map((r) => r.name)).toEqual(['frontier', 'frontier.flex', 'frontier.batch']);
    const [standard, flex, batch] = routes;
    expect(flex).toMatchObject({
      provider: 'frontier',
      tier: 'flex',
      baseURL: 'https://a/v1',
      clearance: 'internal',
      price: { inputPerMTokUsd: 0.5, outputPerMTokUsd: 2 },
      latencyMs: 5000,
      timeoutMs: 900_000,
    });
    expect(flex.tokensPerSec).toBe(standard.tokensPerSec);
    expect(batch).toMatchObject({
      tier: 'batch',
      clearance: 'internal',
      price: { inputPerMTokUsd: 0.4, outputPerMTokUsd: 2 },
      batch: { expectedMs: 3_600_000, pollMs: 60_000, maxLines: 50_000 },
    });
  });

  it('takes CLOUD_TIERS for the single provider', () => {
    const routes = loadConfig({
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
      OPENAI_API_KEY: 'k',
      CLOUD_TIERS: '{"flex": {"priceMultiplier": 0.4}}',
    }).cloudProviders;
    expect(routes.map((r) => [r.name, r.price.outputPerMTokUsd])).toEqual([
      ['frontier', 0.6],
      ['frontier.flex', 0.24],
    ]);
  });

  it('refuses a tier it does not know, a setting a tier does not take, and a window beyond 24 h, naming each', () => {
    expect(() => loadConfig(provider({ tiers: { priority: {} } }))).toThrow(
      /^CLOUD_PROVIDERS\[0\]\.tiers\.priority: expected a tier named flex or batch/,
    );
    expect(() => loadConfig(provider({ tiers: { flex: { pollMs: 5 } } }))).toThrow(
      /^CLOUD_PROVIDERS\[0\]\.tiers\.flex\.pollMs: expected one of/,
    );
    expect(() => loadConfig(provider({ tiers: { batch: { expectedMs: 90_000_000 } } }))).toThrow(
      /^CLOUD_PROVIDERS\[0\]\.tiers\.batch\.expectedMs: expected at most the 24 h window/,
    );
    expect(() => loadConfig(provider({ tiers: [] }))).toThrow(/^CLOUD_PROVIDERS\[0\]\.tiers: expected an object/);
    expect(() => loadConfig({ OPENAI_BASE_URL: 'http://x/v1', OPENAI_API_KEY: 'k', CLOUD_TIERS: 'flex' })).toThrow(
      /^CLOUD_TIERS: expected JSON/,
    );
  });
});

describe('a base URL the SDK can append paths to', () => {
  const azure = 'https://acme.openai.azure.com/openai/deployments/gpt-4o?api-version=2024-10-21';

  it("refuses one with a query (Azure OpenAI's api-version), which the SDK would send each path inside", () => {
    expect(() => loadConfig({ OPENAI_BASE_URL: azure, OPENAI_API_KEY: 'k' })).toThrow(
      /^OPENAI_BASE_URL: expected .*without a query.*\/openai\/v1\//,
    );
    expect(() =>
      loadConfig({
        K: 'k',
        CLOUD_PROVIDERS: JSON.stringify([{ name: 'a', baseURL: azure, model: 'm', apiKeyEnv: 'K' }]),
      }),
    ).toThrow(/^CLOUD_PROVIDERS\[0\]\.baseURL: expected .*without a query/);
  });

  it("takes Azure OpenAI's v1 endpoint, which needs no api-version", () => {
    const [provider] = loadConfig({
      OPENAI_BASE_URL: 'https://acme.openai.azure.com/openai/v1/',
      OPENAI_API_KEY: 'k',
    }).cloudProviders;
    expect(provider.baseURL).toBe('https://acme.openai.azure.com/openai/v1/');
  });
});
