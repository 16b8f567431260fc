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
    const [fromFile] = loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_API_KEY_FILE: path }).cloudProviders;
    expect(fromFile).toMatchObject({ apiKey: 'sk-from-file', apiKeyFile: path });
    const [fromEnv] = loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_API_KEY: 'sk-env', OPENAI_API_KEY_FILE: path }).cloudProviders;
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
    expect(() => loadConfig({ CLOUD_PROVIDERS: JSON.stringify([{ name: 'a', baseURL: 'https://a/v1', model: 'm', apiKeyFile: empty }]) })).toThrow(/^CLOUD_PROVIDERS\[0\]\.apiKeyFile: expected a file holding the key/);
  });
});
