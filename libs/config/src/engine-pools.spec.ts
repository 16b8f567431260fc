import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '#libs/domain';
import { loadConfig } from './app-config.js';

const engines = (entries: unknown[], env: Record<string, string> = {}) =>
  loadConfig({ ENGINE_POOLS: JSON.stringify(entries), ...env }).enginePools;

const gpu1 = {
  name: 'gpu-1',
  engine: 'llama-server',
  baseURL: 'http://10.0.0.7:8080/v1',
  onPremises: true,
  clearance: 'restricted',
};

/** The variable a start-up error names, for the assertion to read as the operator would. */
function refusal(entries: unknown[]): string {
  try {
    engines(entries);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('accepted');
}

describe('ENGINE_POOLS', () => {
  it('reads an engine as a local route: on premises, its clearance as declared, priced 0 unless told', () => {
    const [engine] = engines([gpu1]);
    expect(engine).toMatchObject({
      name: 'gpu-1',
      engine: 'llama-server',
      capacityBase: 'http://10.0.0.7:8080',
      onPremises: true,
      clearance: 'restricted',
      apiKey: 'none',
      price: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 },
      pollMs: 2000,
    });
    expect(loadConfig({}).enginePools).toEqual([]);
  });

  it('reads capacity beside /v1, keeping a path prefix before it (a reverse proxy, llama-server --api-prefix)', () => {
    const capacityBase = (baseURL: string) => engines([{ ...gpu1, baseURL }])[0]!.capacityBase;
    expect(capacityBase('http://gw/gpu1/v1')).toBe('http://gw/gpu1');
    expect(capacityBase('https://gw.example/engines/gpu-1/v1/')).toBe('https://gw.example/engines/gpu-1');
    expect(capacityBase('http://10.0.0.7:8080/v1/')).toBe('http://10.0.0.7:8080');
    expect(capacityBase('http://10.0.0.7:8080')).toBe('http://10.0.0.7:8080');
  });

  it('tells a contextTokens the entry set (it caps what the engine reports) from the default (the engine decides)', () => {
    expect(engines([gpu1])[0]).toMatchObject({ contextTokens: 4096, contextTokensSet: false });
    expect(engines([{ ...gpu1, contextTokens: 4096 }])[0]).toMatchObject({
      contextTokens: 4096,
      contextTokensSet: true,
    });
    expect(refusal([{ ...gpu1, contextTokens: 100 }])).toMatch(/^ENGINE_POOLS\[0\]\.contextTokens/);
  });

  it('takes the key from the variable its entry names, never from the JSON', () => {
    const [engine] = engines([{ ...gpu1, engine: 'vllm', model: 'llama-8b', apiKeyEnv: 'GPU1_KEY' }], {
      GPU1_KEY: 'vllm-secret',
    });
    expect(engine).toMatchObject({ engine: 'vllm', model: 'llama-8b', apiKey: 'vllm-secret' });
  });

  it('refuses an entry that does not declare itself on premises, naming the field', () => {
    expect(refusal([{ ...gpu1, onPremises: undefined }])).toMatch(/^ENGINE_POOLS\[0\]\.onPremises: expected true/);
    expect(refusal([{ ...gpu1, onPremises: 'yes' }])).toMatch(/^ENGINE_POOLS\[0\]\.onPremises: .*got "yes"/);
  });

  it('refuses an entry without an explicit clearance: what an endpoint may take is never defaulted', () => {
    expect(refusal([{ ...gpu1, clearance: undefined }])).toMatch(/^ENGINE_POOLS\[0\]\.clearance: expected the most/);
    expect(refusal([{ ...gpu1, clearance: 'secret' }])).toMatch(/^ENGINE_POOLS\[0\]\.clearance: .*got "secret"/);
  });

  it('refuses an unknown engine, a bad URL, a duplicate name and one a local model already has', () => {
    expect(refusal([{ ...gpu1, engine: 'tgi' }])).toMatch(
      /^ENGINE_POOLS\[0\]\.engine: expected one of llama-server, vllm/,
    );
    expect(refusal([{ ...gpu1, baseURL: 'gpu-1:8080' }])).toMatch(/^ENGINE_POOLS\[0\]\.baseURL/);
    expect(refusal([gpu1, gpu1])).toMatch(/^ENGINE_POOLS\[1\]\.name/);
    expect(() => loadConfig({ ENGINE_POOLS: JSON.stringify([{ ...gpu1, name: 'demo-random' }]) })).toThrow(
      /ENGINE_POOLS\[0\]\.name/,
    );
    expect(refusal([{ ...gpu1, kvGrowBelow: 0.9, kvShrinkAt: 0.5 }])).toMatch(/^ENGINE_POOLS\[0\]\.kvShrinkAt/);
    expect(() => loadConfig({ ENGINE_POOLS: '{"gpu-1": {}}' })).toThrow(/^ENGINE_POOLS: expected a JSON array/);
  });
});
