import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { ensureGeneratedModel } from '#libs/gguf';
import { CrashableCluster } from './support/redis-cluster.js';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/**
 * The whole path on a real Redis Cluster (3 masters + 3 replicas on loopback, REDIS_CLUSTER_NODES):
 * submit, route, run on the local model and in the cloud double, results, cancel, schedules, the audit
 * trail, and the keys CLI. Every Lua script's keys must share a slot and the queues must carry BullMQ's
 * hash-tagged prefix, or Redis answers CROSSSLOT (issue 14 §4).
 */
describe('on a Redis Cluster', () => {
  const TIMEOUT_MS = 240_000;
  let cluster: CrashableCluster | undefined;
  const docs = (tag: string, sensitivity: string, deadline: string, n: number) => ({
    kind: 'document-processing',
    sensitivity,
    deadline,
    task: { type: 'summarize', maxTokens: 16 },
    items: Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, text: `${tag} ${i}: figures of the quarter.` })),
  });

  beforeAll(async () => {
    cluster = await CrashableCluster.start();
  }, 120_000);

  const sys = useSystem(
    async ({ double }) => ({
      REDIS_CLUSTER_NODES: cluster!.seeds,
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      MAX_OUTPUT_TOKENS: '16',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '200',
      CLOUD_TOKENS_PER_SEC: '200',
      // The cloud free and the local model dear: public items go to the cloud by price, whatever either's speed.
      CLOUD_PRICE_INPUT_PER_M: '0',
      CLOUD_PRICE_OUTPUT_PER_M: '0',
      LOCAL_PRICE_INPUT_PER_M: '20',
      LOCAL_PRICE_OUTPUT_PER_M: '60',
      SCHEDULE_MIN_INTERVAL_MS: '1000',
    }),
    { double: { apiKey: 'test-key' } },
  );

  afterAll(async () => {
    await cluster?.stop();
  });

  it(
    'runs restricted items on the local model and public ones in the cloud, with results and one route each in the audit trail',
    async () => {
      const local = await sys.client.request('POST', '/v1/batches', docs('local', 'restricted', 'P1D', 4));
      const cloud = await sys.client.request('POST', '/v1/batches', docs('cloud', 'public', 'PT10M', 6));
      expect([local.status, cloud.status]).toEqual([202, 202]);
      for (const [res, n, target] of [
        [local, 4, 'local'],
        [cloud, 6, 'cloud'],
      ] as const) {
        const batch = await sys.client.waitFinished(res.json.id, 120_000);
        expect(batch.counts).toMatchObject({ total: n, completed: n, failed: 0 });
        const results = await fetch(`${sys.url}/v1/batches/${res.json.id}/results`);
        const lines = (await results.text())
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        expect(lines).toHaveLength(n);
        expect(lines.map((l) => [l.status, l.route.target])).toEqual(Array(n).fill(['completed', target]));
        const audit = await sys.client.request('GET', `/v1/audit?batchId=${res.json.id}&kind=route&limit=100`);
        expect(audit.json.entries).toHaveLength(n);
      }
      expect(sys.double.completionRequests().length).toBeGreaterThanOrEqual(6);
    },
    TIMEOUT_MS,
  );

  it(
    'cancels what has not started',
    async () => {
      const submitted = await sys.client.request('POST', '/v1/batches', docs('cancel', 'restricted', 'P1D', 20));
      const res = await sys.client.request('DELETE', `/v1/batches/${submitted.json.id}`);
      expect(res.status).toBe(200);
      expect(res.json.cancelled).toBeGreaterThan(0);
      const batch = await sys.client.waitFinished(submitted.json.id, 120_000);
      expect(batch.counts.completed + batch.counts.cancelled).toBe(20);
    },
    TIMEOUT_MS,
  );

  it(
    'fires a schedule (a BullMQ Job Scheduler) into an ordinary batch',
    async () => {
      const created = await sys.client.request('POST', '/v1/schedules', {
        name: 'cluster-every-second',
        every: 1000,
        batch: docs('scheduled', 'restricted', 'PT1H', 1),
      });
      expect(created.status).toBe(201);
      let fired: string | null = null;
      for (const deadline = Date.now() + 60_000; !fired && Date.now() < deadline; await sleep(200)) {
        const { json } = await sys.client.request('GET', '/v1/schedules/cluster-every-second');
        fired = json.runs.find((r: { batchId: string | null }) => r.batchId)?.batchId ?? null;
      }
      expect(fired).not.toBeNull();
      expect((await sys.client.request('DELETE', '/v1/schedules/cluster-every-second')).status).toBe(200);
      expect((await sys.client.waitFinished(fired!, 120_000)).counts.completed).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    'creates, lists and revokes API keys with the keys CLI against the cluster',
    async () => {
      const cli = (...args: string[]) =>
        new Promise<{ code: number | null; out: string }>((done) => {
          const child = spawn(process.execPath, [resolve('dist/apps/cli/src/keys.js'), ...args], {
            env: {
              PATH: process.env.PATH,
              REDIS_CLUSTER_NODES: sys.env.REDIS_CLUSTER_NODES,
              SWITCHYARD_PREFIX: sys.env.SWITCHYARD_PREFIX,
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          child.stdout.on('data', (c: Buffer) => (out += c.toString()));
          child.once('exit', (code) => done({ code, out }));
        });
      const created = await cli('create', '--name', 'cluster-ci', '--scopes', 'submit,read');
      expect(created.code).toBe(0);
      const id = JSON.parse(created.out).id as string;
      expect(JSON.parse((await cli('list')).out).keys.map((k: { id: string }) => k.id)).toContain(id);
      expect((await cli('revoke', id)).code).toBe(0);
    },
    TIMEOUT_MS,
  );
});
