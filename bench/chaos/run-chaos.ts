/**
 * npm run test:chaos [-- --quick] [-- --cluster] [-- --record] [-- --seed=N] [-- --logs=DIR]
 *
 * Starts real processes on loopback — its own redis-server (AOF, appendfsync always, noeviction), the
 * API, two workers on the tiny generated model, two OpenAI doubles as two cloud providers — and breaks
 * them: workers SIGKILLed mid-batch, Redis SIGKILLed and restarted, the doubles failing (5xx, 429,
 * hangs), the API fuzzed, randomized workloads with faults. Then it proves from the records (the API's
 * items, Redis itself, the doubles' request logs) that nothing accepted was lost, nothing completed or
 * charged twice, and nothing left for a provider above its clearance.
 *
 * Progress goes to stderr; stdout's last line is one JSON object whose first keys are the counts
 * {"kills","redisRestarts","outages","fuzzed","items","lost","duplicated","leaked"}, then per-phase detail.
 * --cluster runs it all on a Redis Cluster (3 masters + 3 replicas on loopback): each "Redis crash" SIGKILLs a
 * master, its replica is promoted, and the killed node rejoins as a replica (test/support/redis-cluster.ts).
 * --record also writes it, pretty, to bench/results/chaos.json (chaos-cluster.json with --cluster). Exits 1 when anything was lost,
 * duplicated or leaked, or a phase failed. --logs=DIR keeps every app process's output (killed workers'
 * too) in DIR.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { runChaos } from './chaos-run.js';

const args = process.argv.slice(2);
const mode = args.includes('--quick') ? 'quick' : 'full';
const cluster = args.includes('--cluster');
const record = args.includes('--record');
const seedArg = args.find((a) => a.startsWith('--seed='));
const seed = seedArg ? Number(seedArg.slice('--seed='.length)) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(seed) || seed < 0) {
  process.stderr.write(`--seed must be a non-negative integer, got "${seedArg}"\n`);
  process.exit(2);
}

const logsArg = args.find((a) => a.startsWith('--logs='));
const report = await runChaos(
  mode,
  seed,
  (line) => process.stderr.write(`${line}\n`),
  logsArg?.slice('--logs='.length),
  cluster,
).catch((err: unknown) => {
  // The system never came up: still one JSON line last, saying why.
  const error = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${error}\n`);
  process.stdout.write(`${JSON.stringify({ ok: false, mode, redis: cluster ? 'cluster' : 'server', seed, error })}\n`);
  process.exit(1);
});
const { summary, ...rest } = report;
// The counts first, so they can be quoted from the head of the line too.
const line = { ...summary, ...rest };
if (record) {
  const file = resolve(cluster ? 'bench/results/chaos-cluster.json' : 'bench/results/chaos.json');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify({ ...line, recordedAt: new Date().toISOString() }, null, 2)}\n`);
  process.stderr.write(`recorded ${file}\n`);
}
process.stdout.write(`${JSON.stringify(line)}\n`);
process.exit(report.ok ? 0 : 1);
