/**
 * `npm start`: the whole system on one machine with embedded defaults — a private Redis under .data/
 * when no Redis is configured or REDIS_URL is unreachable (a configured Cluster or Sentinel that cannot be
 * reached is an error instead), the generated demo model when LOCAL_MODEL_PATH is unset —
 * then the API and one worker as separate processes, restarted if they crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeTopology, loadConfig, type HostPort } from '#libs/config';
import { ensureGeneratedModel } from '#libs/gguf';
import { shutdownPlan } from '#libs/lifecycle';
import { exitOnFatalErrors, structuredLine } from '#libs/logging';
import { isReachable, RedisServerNotFound, startEmbeddedRedis } from '#libs/redis';
import type { EmbeddedRedis } from '#libs/redis';

// Its own lines in the envelope every other line has ({level, pid, timestamp, message: {msg, …}, context}).
const log = (msg: string, fields: Record<string, unknown> = {}) =>
  console.log(structuredLine('log', 'launcher', msg, fields));
const dist = fileURLToPath(new URL('../../../', import.meta.url));

// Anything else that goes wrong before the children run is one JSON line too, not a stack trace.
exitOnFatalErrors('launcher');
const config = loadConfig();
const env: NodeJS.ProcessEnv = { ...process.env };
let redis: EmbeddedRedis | undefined;

const topology = config.redis.topology;
if (topology.kind === 'cluster' || topology.kind === 'sentinel') {
  // An operator's Cluster or Sentinel is never replaced by a private Redis: the data would silently split.
  const seeds = topology.kind === 'cluster' ? topology.nodes : topology.sentinels;
  if (!(await anyReachable(seeds))) {
    const variable = topology.kind === 'cluster' ? 'REDIS_CLUSTER_NODES' : 'REDIS_SENTINELS';
    fatal(
      `${variable}: none of ${seeds.map((s) => `${s.host}:${s.port}`).join(', ')} is reachable (${describeTopology(topology)})`,
    );
  }
} else if (topology.kind === 'none' || !(await reachable(topology.url))) {
  if (topology.kind === 'standalone')
    log('REDIS_URL is not reachable; starting a private Redis instead', { redisUrl: describeTopology(topology) });
  const port = Number(process.env.SWITCHYARD_REDIS_PORT ?? 6390);
  try {
    redis = await startEmbeddedRedis(join(config.dataDir, 'redis'), port);
  } catch (err) {
    // A first start without Redis installed: what to do, in one line, not a stack trace.
    if (!(err instanceof RedisServerNotFound)) throw err;
    fatal(err.message);
  }
  env.REDIS_URL = redis.url;
  log('private Redis started (AOF on, noeviction)', { url: redis.url, dir: join(config.dataDir, 'redis') });
}
if (!process.env.LOCAL_MODELS && !config.localModels[0].modelPath) {
  env.LOCAL_MODEL_PATH = await ensureGeneratedModel('tiny');
  env.LOCAL_MODEL_NAME ??= 'demo-random';
  log('LOCAL_MODEL_PATH is not set: using the generated demo model (random weights, random text output)', {
    path: env.LOCAL_MODEL_PATH,
  });
}

const children = new Map<string, ChildProcess>();
let stopping = false;

function run(name: 'api' | 'worker', restarts = 0): void {
  if (stopping) return;
  const child = spawn(process.execPath, [join(dist, 'apps', name, 'src', 'main.js')], { env, stdio: 'inherit' });
  children.set(name, child);
  log(`${name} started`, { pid: child.pid });
  const startedAt = Date.now();
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (stopping) return;
    // A process that ran a while gets restarted at once; one that keeps dying backs off up to 30s.
    const n = Date.now() - startedAt > 60_000 ? 0 : restarts + 1;
    const delay = Math.min(30_000, n === 0 ? 0 : 500 * 2 ** (n - 1));
    log(`${name} exited; restarting`, { code, signal, inMs: delay });
    setTimeout(() => run(name, n), delay);
  });
}

/**
 * The children get SIGTERM and exit within SHUTDOWN_TIMEOUT_MS by themselves (they bound their own
 * shutdown, Redis or not); one still alive just before the end is SIGKILLed, so the launcher too is
 * gone within SHUTDOWN_TIMEOUT_MS. Jobs cut off either way are recovered as stalled.
 */
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  const startedAt = Date.now();
  const { killMs } = shutdownPlan(config.shutdownTimeoutMs);
  log('shutting down', { signal, shutdownTimeoutMs: config.shutdownTimeoutMs });
  const exited = (c: ChildProcess) =>
    new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)));
  const all = [...children.values()];
  for (const c of all) c.kill('SIGTERM');
  const killer = setTimeout(() => {
    for (const [name, c] of children) {
      log(`${name} still running at the shutdown deadline; killing it`, { pid: c.pid });
      c.kill('SIGKILL');
    }
  }, killMs);
  await Promise.all(all.map(exited));
  clearTimeout(killer);
  // The private Redis (AOF fsynced on every write) stops in milliseconds; it gets what is left of the budget.
  const left = Math.max(0, config.shutdownTimeoutMs - (Date.now() - startedAt) - 100);
  // It is killed at the deadline rather than left running without its launcher, holding the port and the data folder.
  if ((await redis?.stop({ killAfterMs: left })) === 'killed')
    log('the private Redis still running at the shutdown deadline; killed it', { dataDir: config.dataDir });
  process.exit(0);
}

process.on('SIGINT', (s) => void shutdown(s));
process.on('SIGTERM', (s) => void shutdown(s));
run('worker');
run('api');
log('Switchyard starting', {
  api: `http://${config.http.host}:${config.http.port}`,
  board: `http://${config.http.host}:${config.http.port}/admin/queues`,
});

async function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return isReachable(u.hostname, u.port ? Number(u.port) : 6379);
}

async function anyReachable(nodes: HostPort[]): Promise<boolean> {
  return (await Promise.all(nodes.map((n) => isReachable(n.host, n.port)))).some(Boolean);
}

/** What to do, in one JSON line, not a stack trace; then exit. */
function fatal(msg: string): never {
  console.error(structuredLine('fatal', 'launcher', msg));
  process.exit(1);
}
