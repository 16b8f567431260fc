import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import jsYaml from 'js-yaml';
import { loadConfig } from '#libs/config';
import { ensureGeneratedModel } from '#libs/gguf';
import { openRedis, type RedisClient } from '#libs/redis';
import { freePort } from './support/redis-server-process.js';
import { useSystem } from './support/use-system.js';

/**
 * deploy/ as an operator uses it, without a cluster or a Docker engine: every Kustomize overlay renders
 * (`kubectl kustomize`, offline), each object validates against the Kubernetes schemas (kubernetes-models),
 * and the wiring holds (what is referenced exists, ports and probes match the apps, the grace period covers
 * the shutdown budget). The compose file is checked for the same promises, and the API answers its probes.
 */
const OVERLAYS = ['cpu', 'gpu'] as const;
/** Secrets the operator creates before applying (deploy/README.md); every other one must be optional. */
const OPERATOR_SECRETS = new Set(['switchyard-admin', 'switchyard-redis-auth']);

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
};

function render(overlay: string): K8sObject[] {
  const text = execFileSync('kubectl', ['kustomize', `deploy/k8s/overlays/${overlay}`], { encoding: 'utf8' });
  return jsYaml.loadAll(text).filter(Boolean) as K8sObject[];
}

const require = createRequire(import.meta.url);
/** The kubernetes-models class for an object's apiVersion and kind (core "v1" has no group folder). */
function modelOf(o: K8sObject): new (data: object) => { validate(): void } {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const path = ['kubernetes-models', group, version, o.kind].filter(Boolean).join('/');
  const mod = require(path);
  return mod[o.kind] ?? mod.default;
}

/** Every pod template in the rendered objects, with its owner. */
function podSpecs(objects: K8sObject[]) {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind))
    .map((o) => ({ owner: o, labels: o.spec.template.metadata.labels, pod: o.spec.template.spec }));
}

describe('deploy/k8s', () => {
  for (const overlay of OVERLAYS) {
    describe(`overlay ${overlay}`, () => {
      let objects: K8sObject[];
      beforeAll(() => {
        objects = render(overlay);
      });
      const named = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

      it('renders and every object validates against the Kubernetes schemas', () => {
        expect(objects.map((o) => o.kind).sort()).toEqual(
          [
            'ConfigMap',
            'ConfigMap',
            'Deployment',
            'Deployment',
            'HorizontalPodAutoscaler',
            'NetworkPolicy',
            'NetworkPolicy',
            'PersistentVolumeClaim',
            'PodDisruptionBudget',
            'PodDisruptionBudget',
            'Service',
            'Service',
            'StatefulSet',
          ].sort(),
        );
        for (const o of objects) {
          const Model = modelOf(o);
          expect(() => new Model(o).validate()).not.toThrow();
        }
      });

      it('references only what it ships, or secrets that are optional or created by the operator', () => {
        const missing: string[] = [];
        for (const { owner, pod } of podSpecs(objects)) {
          const claims = new Set((owner.spec.volumeClaimTemplates ?? []).map((t: any) => t.metadata.name));
          for (const v of pod.volumes ?? []) {
            if (v.configMap && !named('ConfigMap', v.configMap.name))
              missing.push(`${owner.metadata.name}: configMap ${v.configMap.name}`);
            if (v.persistentVolumeClaim && !named('PersistentVolumeClaim', v.persistentVolumeClaim.claimName))
              missing.push(`${owner.metadata.name}: pvc ${v.persistentVolumeClaim.claimName}`);
            if (v.secret && !v.secret.optional && !OPERATOR_SECRETS.has(v.secret.secretName))
              missing.push(`${owner.metadata.name}: secret ${v.secret.secretName}`);
          }
          for (const c of pod.containers) {
            for (const m of c.volumeMounts ?? []) {
              if (!(pod.volumes ?? []).some((v: any) => v.name === m.name) && !claims.has(m.name))
                missing.push(`${owner.metadata.name}: mount ${m.name}`);
            }
            for (const from of c.envFrom ?? []) {
              if (from.configMapRef && !from.configMapRef.optional && !named('ConfigMap', from.configMapRef.name))
                missing.push(`${owner.metadata.name}: envFrom ${from.configMapRef.name}`);
            }
            for (const e of c.env ?? []) {
              const secret = e.valueFrom?.secretKeyRef;
              if (secret && !secret.optional && !OPERATOR_SECRETS.has(secret.name))
                missing.push(`${owner.metadata.name}: env ${e.name} from secret ${secret.name}`);
              const config = e.valueFrom?.configMapKeyRef;
              if (config && !config.optional && !named('ConfigMap', config.name)?.data?.[config.key])
                missing.push(`${owner.metadata.name}: env ${e.name}`);
            }
          }
        }
        expect(missing).toEqual([]);
      });

      it('points every Service, PodDisruptionBudget and autoscaler at pods that exist, on ports they open', () => {
        const pods = podSpecs(objects);
        const matching = (selector: Record<string, string>) =>
          pods.filter((p) => Object.entries(selector).every(([k, v]) => p.labels[k] === v));
        for (const svc of objects.filter((o) => o.kind === 'Service')) {
          const [target] = matching(svc.spec.selector);
          expect(target).toBeDefined();
          const ports = target.pod.containers.flatMap((c: any) => c.ports ?? []);
          for (const p of svc.spec.ports)
            expect(ports.some((cp: any) => cp.name === p.targetPort || cp.containerPort === p.targetPort)).toBe(true);
        }
        for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget'))
          expect(matching(pdb.spec.selector.matchLabels)).toHaveLength(1);
        for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler'))
          expect(named(hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name)).toBeDefined();
        // The Redis URL the apps get names the Redis Service and its port.
        const url = new URL(named('ConfigMap', 'switchyard')!.data!.REDIS_URL);
        const redis = named('Service', url.hostname);
        expect(redis?.spec.ports.map((p: any) => p.port)).toContain(Number(url.port));
      });

      it('lets only the API and the worker reach Redis, and only Prometheus the worker’s unauthenticated metrics', () => {
        const pods = podSpecs(objects);
        const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
        const guarding = (app: string) =>
          policies.filter((p) => p.spec.podSelector.matchLabels?.app === app && p.spec.policyTypes.includes('Ingress'));
        // A named port in a policy must be one the guarded pod opens, or the policy admits nothing.
        const opens = (app: string, port: string) =>
          pods
            .find((p) => p.labels.app === app)!
            .pod.containers.some((c: any) => (c.ports ?? []).some((cp: any) => cp.name === port));
        const [redis] = guarding('switchyard-redis');
        expect(redis.spec.ingress).toHaveLength(1);
        expect(redis.spec.ingress[0].from.map((f: any) => f.podSelector.matchLabels.app).sort()).toEqual([
          'switchyard-api',
          'switchyard-worker',
        ]);
        expect(redis.spec.ingress[0].from.every((f: any) => f.namespaceSelector === undefined)).toBe(true);
        for (const { port } of redis.spec.ingress[0].ports) expect(opens('switchyard-redis', port)).toBe(true);
        const [worker] = guarding('switchyard-worker');
        expect(worker.spec.ingress).toEqual([
          {
            from: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }],
            ports: [{ port: 'metrics' }],
          },
        ]);
        expect(opens('switchyard-worker', 'metrics')).toBe(true);
        // The API is what clients call: no policy closes it.
        expect(guarding('switchyard-api')).toEqual([]);
      });

      it('runs every pod as Pod Security "restricted" admits it', () => {
        for (const { owner, pod } of podSpecs(objects)) {
          const where = `${owner.kind} ${owner.metadata.name}`;
          for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
            const sc = { ...pod.securityContext, ...c.securityContext };
            expect([where, c.name, sc.runAsNonRoot, sc.runAsUser === 0]).toEqual([where, c.name, true, false]);
            expect([where, c.name, sc.seccompProfile?.type]).toEqual([where, c.name, 'RuntimeDefault']);
            expect([where, c.name, c.securityContext?.allowPrivilegeEscalation]).toEqual([where, c.name, false]);
            expect([where, c.name, c.securityContext?.capabilities]).toEqual([where, c.name, { drop: ['ALL'] }]);
            expect(c.securityContext?.privileged).not.toBe(true);
          }
          // Only the volume types the profile allows (no hostPath).
          for (const v of pod.volumes ?? [])
            expect(Object.keys(v).filter((k) => k !== 'name')).toEqual([
              expect.stringMatching(/^(configMap|secret|emptyDir|persistentVolumeClaim|projected|downwardAPI)$/),
            ]);
        }
      });

      it('probes the API where it answers, on its PORT, and lets every app drain within its grace period', () => {
        const config = named('ConfigMap', 'switchyard')!.data!;
        for (const { owner, pod } of podSpecs(objects).filter(
          (p) => p.owner.metadata.name.startsWith('switchyard-') && p.owner.kind === 'Deployment',
        )) {
          const [c] = pod.containers;
          const env = Object.fromEntries(
            (c.env ?? []).filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]),
          );
          const shutdownMs = Number(env.SHUTDOWN_TIMEOUT_MS ?? config.SHUTDOWN_TIMEOUT_MS);
          // The grace period counts from before the preStop hook: the pause and the drain both fit in it.
          const [, pauseSec] = c.lifecycle?.preStop?.exec?.command ?? [];
          expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(Number(pauseSec ?? 0) * 1000 + shutdownMs);
          if (owner.metadata.name === 'switchyard-worker') {
            // Ready once its pools consume, read from its own /metrics: without a probe a rollout went on at once.
            expect(c.readinessProbe.exec.command).toEqual(['node', 'deploy/worker-ready.mjs']);
            expect(c.ports.find((p: any) => p.name === 'metrics').containerPort).toBe(Number(env.METRICS_PORT));
          }
          if (owner.metadata.name !== 'switchyard-api') continue;
          // Kept serving a few seconds after SIGTERM, while Endpoints still route to it.
          expect(c.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
          const http = c.ports.find((p: any) => p.name === 'http');
          expect(String(http.containerPort)).toBe(env.PORT);
          expect(c.readinessProbe.httpGet).toEqual({ path: '/ready/api', port: 'http' });
          expect(c.livenessProbe.httpGet).toEqual({ path: '/health', port: 'http' });
        }
      });

      it('runs Redis with the password the apps are given: a client without it is refused, the apps and the probe get in', async () => {
        // What the operator's Secrets hold; characters a shell or Redis's config reader would trip on included.
        const secrets: Record<string, Record<string, string>> = {
          'switchyard-redis-auth': { password: 'pw +/="x\\ y' },
          'switchyard-admin': { 'admin-api-key': 'k'.repeat(32) },
        };
        const envOf = (c: any): Record<string, string> => {
          const env: Record<string, string> = {};
          for (const from of c.envFrom ?? []) Object.assign(env, named('ConfigMap', from.configMapRef.name)?.data);
          for (const e of c.env ?? []) {
            const ref = e.valueFrom?.secretKeyRef;
            const value = 'value' in e ? e.value : ref ? secrets[ref.name]?.[ref.key] : undefined;
            if (value !== undefined) env[e.name] = value;
          }
          return env;
        };
        const sts = named('StatefulSet', 'switchyard-redis')!.spec.template.spec;
        const [redis] = sts.containers;
        const redisEnv = envOf(redis);
        // The pod's files, where its mounts put them: the ConfigMap's keys, and a data directory.
        const root = mkdtempSync(join(tmpdir(), 'k8s-redis-'));
        const mountPaths = new Map<string, string>();
        for (const m of redis.volumeMounts) {
          const dir = mkdtempSync(join(root, `${m.name}-`));
          const volume = sts.volumes?.find((v: any) => v.name === m.name);
          for (const [file, text] of Object.entries(named('ConfigMap', volume?.configMap?.name ?? '')?.data ?? {}))
            writeFileSync(join(dir, file), text);
          mountPaths.set(m.mountPath, dir);
        }
        const local = (arg: string) => {
          for (const [mount, dir] of mountPaths)
            if (arg === mount || arg.startsWith(`${mount}/`)) return dir + arg.slice(mount.length);
          return arg;
        };
        // Kubernetes expands $(VAR) in args from the container's env; the image's entrypoint runs redis-server
        // with them when the first is a .conf file.
        const args = (redis.args as string[]).map((a) =>
          local(a.replace(/\$\((\w+)\)/g, (_, v: string) => redisEnv[v] ?? `$(${v})`)),
        );
        expect(args[0]).toMatch(/\.conf$/);
        const port = await freePort();
        const server = spawn('redis-server', [...args, '--port', String(port), '--appendfsync', 'no'], {
          stdio: 'ignore',
        });
        const clients: RedisClient[] = [];
        try {
          // Up once it answers at all (without the password, NOAUTH).
          for (let tries = 0; ; tries++) {
            const answer = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout;
            if (/PONG|NOAUTH/.test(answer) || tries > 100) break;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          const open = (env: Record<string, string>) => {
            const url = new URL(env.REDIS_URL);
            url.hostname = '127.0.0.1';
            url.port = String(port);
            const client = openRedis(loadConfig({ ...env, REDIS_URL: url.toString() }).redis.topology, {
              maxRetriesPerRequest: 1,
            });
            client.on('error', () => undefined); // the refusals are asserted on the commands
            clients.push(client);
            return client;
          };
          for (const app of ['switchyard-api', 'switchyard-worker']) {
            const [c] = named('Deployment', app)!.spec.template.spec.containers;
            await expect(open(envOf(c)).ping()).resolves.toBe('PONG');
            const { REDIS_PASSWORD: _, ...without } = envOf(c);
            await expect(open(without).ping()).rejects.toThrow(/NOAUTH/);
          }
          // The readiness probe, as the kubelet runs it in the container (its env, the pod's port).
          const [cli, ...probe] = redis.readinessProbe.exec.command as string[];
          const out = execFileSync(cli, ['-p', String(port), ...probe], {
            env: { PATH: process.env.PATH, ...redisEnv },
            encoding: 'utf8',
          });
          expect(out.trim()).toBe('PONG');
        } finally {
          for (const client of clients) client.disconnect();
          server.kill();
          await new Promise((resolve) => server.once('exit', resolve));
        }
      });

      it(
        overlay === 'gpu'
          ? 'runs workers on GPU nodes, one GPU each, from the CUDA image'
          : 'runs workers on CPU with bounded threads',
        () => {
          const worker = named('Deployment', 'switchyard-worker')!.spec.template.spec;
          const [c] = worker.containers;
          const env = Object.fromEntries(c.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
          if (overlay === 'gpu') {
            expect(c.image).toBe('switchyard:cuda');
            expect(env.LOCAL_GPU).toBe('cuda');
            expect(c.resources.limits['nvidia.com/gpu']).toBe(1);
            expect(worker.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
            expect(worker.nodeSelector).toBeDefined();
            // Sized to the GPUs there are: a surge pod would wait for a GPU no pod frees, and the rollout stall.
            expect(named('Deployment', 'switchyard-worker')!.spec.strategy.rollingUpdate).toEqual({
              maxUnavailable: 1,
              maxSurge: 0,
            });
          } else {
            expect(c.image).toBe('switchyard:cpu');
            expect(env.LOCAL_GPU).toBe('none');
            expect(Number(env.LOCAL_THREADS)).toBeGreaterThan(0);
            expect(c.resources.limits?.['nvidia.com/gpu']).toBeUndefined();
          }
        },
      );
    });
  }

  it('ships the Redis settings Switchyard needs (noeviction, AOF fsynced on every write)', () => {
    const conf = readFileSync('deploy/k8s/base/redis.conf', 'utf8');
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).toMatch(/^appendfsync always$/m);
  });
});

describe('deploy/compose.yaml', () => {
  const compose = jsYaml.load(readFileSync('deploy/compose.yaml', 'utf8')) as any;
  const cloud = jsYaml.load(readFileSync('deploy/compose.cloud.yaml', 'utf8')) as any;

  it('starts the apps only once Redis is healthy, restarts them, and mounts the models where API and worker read them', () => {
    expect(compose.services.redis.healthcheck.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(compose.services.redis.volumes).toContain('./k8s/base/redis.conf:/usr/local/etc/redis/redis.conf:ro');
    for (const name of ['api', 'worker', 'worker-gpu']) {
      const service = compose.services[name];
      expect(service.restart).toBe('unless-stopped');
      expect(service.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
      expect(service.volumes).toContain('./models:/models:ro');
    }
  });

  it('needs no cloud secret without a cloud provider, and takes one from its override file', () => {
    const secrets = Object.values(compose.services).flatMap((s: any) => s.secrets ?? []);
    expect(secrets).not.toContain('openai_api_key');
    expect(JSON.stringify(compose.services)).not.toMatch(/OPENAI_API_KEY/);
    expect(cloud.services.worker.secrets).toEqual(['openai_api_key']);
    expect(cloud.services.worker.environment.OPENAI_API_KEY_FILE).toBe('/run/secrets/openai_api_key');
  });

  it('has a gpu profile whose worker reserves an NVIDIA GPU from the CUDA image', () => {
    const gpu = compose.services['worker-gpu'];
    expect(gpu.profiles).toEqual(['gpu']);
    expect(gpu.build.target).toBe('cuda');
    expect(gpu.deploy.resources.reservations.devices).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    expect(compose.services.worker.profiles).toBeUndefined();
  });
});

describe('the probes the manifests use', () => {
  // The API alone, as while every worker is still Pending: it must stay ready to serve reads.
  const sys = useSystem({}, { workers: 0, waitFor: 'healthy' });

  it('answers /ready/api while Redis answers, whether or not a pool consumes; /ready waits for a pool', async () => {
    expect((await sys.client.request('GET', '/health')).status).toBe(200);
    expect((await sys.client.request('GET', '/ready/api')).json).toEqual({ status: 'ready', redis: true });
    expect((await sys.client.request('GET', '/ready')).status).toBe(503);
  });

  it("the image's HEALTHCHECK asks the API, and passes a worker, whichever way the role was given", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'healthcheck-'));
    /** The check's exit code, process 1 running `app` (its /proc cmdline), with the image's environment. */
    const check = async (app: string, port: string) => {
      const cmdline = join(dir, app);
      writeFileSync(cmdline, `node\0dist/apps/${app}/src/main.js\0`);
      const env = { PATH: process.env.PATH, SWITCHYARD_ROLE: 'api', PORT: port, HEALTHCHECK_CMDLINE: cmdline };
      return new Promise<number | null>((done) =>
        execFile(process.execPath, ['deploy/healthcheck.mjs'], { env }, (err) => done(err ? (err.code as number) : 0)),
      );
    };
    const apiPort = new URL(sys.url).port;
    const nothing = String(await freePort());
    expect(await check('api', apiPort)).toBe(0);
    expect(await check('api', nothing)).toBe(1);
    // `docker run switchyard:cpu worker` keeps the image's SWITCHYARD_ROLE=api: process 1 says it is a worker.
    expect(await check('worker', nothing)).toBe(0);
  });
});

/** The worker's readiness probe on a worker's port: its exit code and what it says. */
function workerReady(metricsPort: string): Promise<{ code: number; said: string }> {
  const env = { PATH: process.env.PATH, METRICS_PORT: metricsPort };
  return new Promise((done) =>
    execFile(process.execPath, ['deploy/worker-ready.mjs'], { env }, (err, _out, said) =>
      done({ code: err ? (err.code as number) : 0, said }),
    ),
  );
}

describe("the worker's readiness probe (deploy/worker-ready.mjs)", () => {
  let metricsPort = '';
  const broken = mkdtempSync(join(tmpdir(), 'worker-ready-'));
  const sys = useSystem(async () => {
    const tiny = await ensureGeneratedModel('tiny');
    // Half a model: its pool fails to load, as a model that cannot be read or does not fit.
    const whole = await readFile(tiny);
    writeFileSync(join(broken, 'broken.gguf'), whole.subarray(0, Math.floor(whole.length / 2)));
    metricsPort = String(await freePort());
    return {
      METRICS_PORT: metricsPort,
      LOCAL_MODELS: JSON.stringify({ tiny: { path: tiny }, broken: { path: join(broken, 'broken.gguf') } }),
    };
  });

  it('keeps a worker with a pool that does not consume not ready, though the system is ready with its other pool', async () => {
    expect((await sys.client.request('GET', '/ready')).status).toBe(200);
    await sys.worker.waitForLog(/pool not consuming/);
    const { code, said } = await workerReady(metricsPort);
    expect({ code, said }).toEqual({ code: 1, said: expect.stringContaining('failed') });
  });

  it('is not ready where no worker answers', async () => {
    expect((await workerReady(String(await freePort()))).code).toBe(1);
  });
});

describe("the worker's readiness probe on a worker whose pools all consume", () => {
  let metricsPort = '';
  useSystem(async () => {
    metricsPort = String(await freePort());
    return { METRICS_PORT: metricsPort, LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny') };
  });

  it('is ready', async () => {
    expect(await workerReady(metricsPort)).toEqual({ code: 0, said: '' });
  });
});
