import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGeneratedModel } from '#libs/gguf';
import { useSystem } from './support/use-system.js';

const KEY_A = 'sk-rotation-A-4c1f9e';
const KEY_B = 'sk-rotation-B-92d07a';

/** A provider key read from a file is rotated by replacing the file: the worker uses the new key without a restart. */
describe('provider key rotation (OPENAI_API_KEY_FILE)', () => {
  let dir: string;
  let keyFile: string;

  const sys = useSystem(
    async ({ double }) => {
      dir = mkdtempSync(join(tmpdir(), 'switchyard-rotation-'));
      keyFile = join(dir, 'openai-key');
      writeFileSync(keyFile, `${KEY_A}\n`, { mode: 0o600 });
      return {
        LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
        LOCAL_TOKENS_PER_SEC: '20',
        MAX_OUTPUT_TOKENS: '32',
        OPENAI_BASE_URL: double.url,
        OPENAI_API_KEY_FILE: keyFile,
        CLOUD_MAX_SENSITIVITY: 'internal',
        CLOUD_LATENCY_MS: '200',
        CLOUD_TOKENS_PER_SEC: '200',
      };
    },
    { double: { apiKey: KEY_A } },
  );

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const cloudBatch = (tag: string) => ({
    kind: 'document-processing',
    sensitivity: 'public',
    // A deadline the (unmeasured) local model cannot meet: every item goes to the cloud.
    deadline: 'PT2S',
    task: { type: 'summarize', maxTokens: 16 },
    items: [0, 1, 2].map((i) => ({
      id: `${tag}-${i}`,
      text: `${tag}-${i} ` + 'The quarterly report covers revenue, costs and hiring plans. '.repeat(16),
    })),
  });

  const runOnCloud = async (tag: string) => {
    const submitted = await sys.client.request('POST', '/v1/batches', cloudBatch(tag));
    expect(submitted.status).toBe(202);
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch.status).toBe('completed');
    expect(batch.routes).toEqual({ local: 0, cloud: 3 });
  };

  it('uses the new key from the next request after the file is replaced, with no restart and no failed request', async () => {
    const pid = sys.worker.child.pid;
    await runOnCloud('before');
    expect(sys.double.completionRequests().map((r) => r.headers.authorization)).toEqual(
      Array(3).fill(`Bearer ${KEY_A}`),
    );

    // Rotate as a secret manager does (write aside, rename over), and revoke A at the provider.
    writeFileSync(join(dir, 'openai-key.new'), `${KEY_B}\n`, { mode: 0o600 });
    renameSync(join(dir, 'openai-key.new'), keyFile);
    sys.double.acceptKeys([KEY_B]);

    await runOnCloud('after');
    const keys = sys.double.completionRequests().map((r) => r.headers.authorization);
    expect(keys).toEqual([...Array(3).fill(`Bearer ${KEY_A}`), ...Array(3).fill(`Bearer ${KEY_B}`)]);
    expect(sys.worker.running).toBe(true);
    expect(sys.worker.child.pid).toBe(pid);
    await sys.worker.waitForLog(/provider API key reloaded from its file/, 5000);

    // Neither key ever reaches a log.
    const logs = sys.worker.output.join('') + sys.api.output.join('');
    expect(logs).not.toContain(KEY_A);
    expect(logs).not.toContain(KEY_B);
  });
});
