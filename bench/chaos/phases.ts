import { SENSITIVITY_LEVELS, type Sensitivity } from '#libs/domain';
import type { DoubleFault } from '../../test/support/openai-double.js';
import type { Random } from '../routing/random.js';
import { sleep, type ChaosSystem } from './chaos-system.js';
import { fuzzCases, hasReason, sendCase } from './fuzz-cases.js';
import { audit, markersOf, waitAllFinished, type Ledger } from './ledger.js';
import { documentBatch, randomSensitivity, submit } from './workload.js';

export interface ChaosScale {
  /** Worker SIGKILLs in the kill phase. */
  kills: number;
  redisRestarts: number;
  /** Fault episodes on the cloud doubles in the outage phase (cycling through 5xx, 429, hang, both down). */
  outages: number;
  fuzzCases: number;
  /** Randomized workload rounds in the leak phase. */
  leakRounds: number;
  /** Items per local (restricted) batch and per cloud batch in the kill and Redis phases. */
  localItems: number;
  cloudItems: number;
  maxOutputTokens: number;
}

export interface ChaosContext {
  system: ChaosSystem;
  ledger: Ledger;
  rng: Random;
  scale: ChaosScale;
  log: (line: string) => void;
}

export interface PhaseResult {
  phase: string;
  ok: boolean;
  seconds: number;
  /** What the phase did and saw (counts), for the report. */
  detail: Record<string, unknown>;
  problems: string[];
}

const FINISH_TIMEOUT_MS = 240_000;

/** Runs a phase, timing it; a phase that throws is a failed phase with the error as its problem. */
export async function runPhase(
  name: string,
  ctx: ChaosContext,
  body: (problems: string[]) => Promise<Record<string, unknown>>,
): Promise<PhaseResult> {
  const t0 = Date.now();
  ctx.log(`phase ${name}: start`);
  const problems: string[] = [];
  let detail: Record<string, unknown> = {};
  try {
    detail = await body(problems);
  } catch (err) {
    problems.push(`phase threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  const result = {
    phase: name,
    ok: problems.length === 0,
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    detail,
    problems,
  };
  ctx.log(
    `phase ${name}: ${result.ok ? 'ok' : 'FAILED'} in ${result.seconds}s ${JSON.stringify(detail)}${problems.length ? '\n  ' + problems.slice(0, 20).join('\n  ') : ''}`,
  );
  return result;
}

/** Waits for the phase's batches, then audits them: every item ended once, none lost or counted twice. */
async function settle(ctx: ChaosContext, phase: string, problems: string[], expectAllCompleted: boolean) {
  const batches = ctx.ledger.accepted.filter((b) => b.phase === phase);
  const unfinished = await waitAllFinished(
    ctx.system.client,
    batches.map((b) => b.id),
    FINISH_TIMEOUT_MS,
  );
  if (unfinished.length)
    problems.push(`${unfinished.length} batch(es) not finished within ${FINISH_TIMEOUT_MS / 1000}s`);
  const a = await audit(ctx.system.client, batches, ctx.system.workerOutput());
  if (a.lost || a.duplicated || (expectAllCompleted && a.failed)) problems.push(...a.problems);
  if (a.completed > 0 && a.completionLogs === 0)
    problems.push('no "item completed" line in the workers\' logs: the duplicate check by logs is blind');
  return {
    batches: batches.length,
    items: a.items,
    completed: a.completed,
    failed: a.failed,
    lost: a.lost,
    duplicated: a.duplicated,
    reran: a.reran,
  };
}

/** Restarts any app process that died on its own (which is itself a finding) so the run can go on. */
function reviveDeadProcesses(ctx: ChaosContext, problems: string[]): void {
  const { system } = ctx;
  if (!system.api.running)
    problems.push(`the API process exited by itself:\n${system.api.output.join('').slice(-2000)}`);
  system.workers.forEach((w, i) => {
    if (!w.running) {
      problems.push(`worker ${i} exited by itself:\n${w.output.join('').slice(-2000)}`);
      void system.killAndReplaceWorker(i);
    }
  });
}

/** Submits the standard mix: restricted items (local model) and internal + confidential items (the two clouds). */
async function submitMix(ctx: ChaosContext, phase: string): Promise<string[]> {
  const { system, ledger, rng, scale } = ctx;
  const bodies = [
    documentBatch(ledger, rng, 'restricted', scale.localItems, scale.maxOutputTokens),
    documentBatch(ledger, rng, 'internal', scale.cloudItems, scale.maxOutputTokens),
    documentBatch(ledger, rng, 'confidential', scale.cloudItems, scale.maxOutputTokens),
  ];
  const ids: string[] = [];
  for (const body of bodies) {
    const id = await submit(system.client, ledger, phase, body);
    if (id) ids.push(id);
  }
  return ids;
}

async function anyRunning(ctx: ChaosContext, ids: string[]): Promise<'running' | 'finished' | 'waiting'> {
  let finished = 0;
  for (const id of ids) {
    const { json } = await ctx.system.client.request('GET', `/v1/batches/${id}`).catch(() => ({ json: null }));
    if (json?.finishedAt) finished += 1;
    else if (json?.counts?.running > 0) return 'running';
  }
  return finished === ids.length ? 'finished' : 'waiting';
}

/**
 * Worker SIGKILL mid-batch, repeated: each kill lands while items are running (local decodes and cloud
 * requests held open by the doubles' latency), a replacement starts at once, and the killed worker's
 * jobs come back when their locks expire. Every accepted item must complete exactly once.
 */
export async function workerKillPhase(ctx: ChaosContext): Promise<PhaseResult> {
  return runPhase('worker-kills', ctx, async (problems) => {
    const { system, rng, scale } = ctx;
    for (const p of system.providers) p.double.setLatency(400);
    let ids = await submitMix(ctx, 'worker-kills');
    let kills = 0;
    const deadline = Date.now() + FINISH_TIMEOUT_MS;
    while (kills < scale.kills && Date.now() < deadline) {
      const state = await anyRunning(ctx, ids);
      if (state === 'finished') {
        ids = await submitMix(ctx, 'worker-kills'); // keep work in flight until every kill has landed
        continue;
      }
      if (state === 'waiting') {
        await sleep(50);
        continue;
      }
      const victim = kills % system.workers.length;
      await system.killAndReplaceWorker(victim);
      kills += 1;
      ctx.log(`  killed worker ${victim} (kill ${kills}/${scale.kills})`);
      await sleep(rng.int(800, 2500));
      reviveDeadProcesses(ctx, problems);
    }
    for (const p of system.providers) p.double.setLatency(0);
    const settled = await settle(ctx, 'worker-kills', problems, true);
    await system.waitWorkersConsuming();
    if (kills < scale.kills) problems.push(`only ${kills} of ${scale.kills} kills landed mid-batch`);
    return { kills, workerStartMs: Math.max(0, ...system.startupMs), ...settled };
  });
}

/**
 * Redis SIGKILLed mid-batch and started again on the same port and AOF (appendfsync always), while
 * clients keep submitting (with Idempotency-Keys, retried on 5xx). The apps must reconnect by
 * themselves; every batch that got a 202 must still exist and every item must finish.
 */
export async function redisRestartPhase(ctx: ChaosContext): Promise<PhaseResult> {
  return runPhase('redis-restarts', ctx, async (problems) => {
    const { system, ledger, rng, scale } = ctx;
    let restarts = 0;
    let submittedDuringOutage = 0;
    let reconnectMs = 0;
    for (let r = 0; r < scale.redisRestarts; r++) {
      const ids = await submitMix(ctx, 'redis-restarts');
      for (let i = 0; i < 200 && (await anyRunning(ctx, ids)) !== 'running'; i++) await sleep(50);
      // Submissions racing the crash: some are answered before it, some fail and are retried after.
      const racing = Array.from({ length: 3 }, (_, k) =>
        sleep(k * 150).then(() =>
          submit(
            system.client,
            ledger,
            'redis-restarts',
            documentBatch(ledger, rng, randomSensitivity(rng), 3, scale.maxOutputTokens),
            120_000,
          ),
        ),
      );
      await sleep(100);
      await system.redis.crash();
      ctx.log(`  redis killed (restart ${r + 1}/${scale.redisRestarts})`);
      await sleep(rng.int(500, 2000));
      const down = Date.now();
      await system.redis.restart();
      restarts += 1;
      submittedDuringOutage += (await Promise.all(racing)).filter(Boolean).length;
      try {
        await system.waitReady(60_000);
        reconnectMs = Math.max(reconnectMs, Date.now() - down);
      } catch {
        problems.push(`the API was not ready again within 60 s of Redis coming back (restart ${r + 1})`);
      }
      reviveDeadProcesses(ctx, problems);
    }
    const settled = await settle(ctx, 'redis-restarts', problems, true);
    return {
      redisRestarts: restarts,
      submittedAcrossCrash: submittedDuringOutage,
      readyAgainMs: reconnectMs,
      ...settled,
    };
  });
}

const OUTAGE_FAULTS: Array<{ label: string; fault: DoubleFault; both?: boolean }> = [
  { label: '500', fault: { status: 500 } },
  { label: '429', fault: { status: 429, retryAfterSec: 1 } },
  { label: 'hang', fault: { hang: true } },
  { label: '503', fault: { status: 503 } },
  { label: 'both-500', fault: { status: 502 }, both: true },
];

/**
 * The frontier double fails (5xx, 429 with Retry-After, hangs), sometimes the sovereign one too: items
 * must finish on a provider cleared for them — the other cloud if its clearance allows, else local —
 * and never above clearance (checked here by route, and at the end by the doubles' records).
 */
export async function outagePhase(ctx: ChaosContext): Promise<PhaseResult> {
  return runPhase('outages', ctx, async (problems) => {
    const { system, ledger, rng, scale } = ctx;
    const frontier = system.provider('frontier').double;
    const sovereign = system.provider('sovereign').double;
    const byFault: Record<string, { items: number; fellBack: number; finishedOn: Record<string, number> }> = {};
    let outages = 0;
    for (let o = 0; o < scale.outages; o++) {
      const { label, fault, both } = OUTAGE_FAULTS[o % OUTAGE_FAULTS.length];
      const levels = ['public', 'internal', ...(both ? (['confidential'] as const) : [])] as const;
      // Enough failures that every item's first attempt fails (its SDK request and the SDK's one retry),
      // so the circuit opens and items are routed again; not many more: while the circuit is open only its
      // half-open probe (one every CIRCUIT_OPEN_MS) reaches the double, so each extra failure keeps the
      // episode going ~2 s longer (a fixed 30 cost the quick run 3-4 minutes here).
      const failures = 2 * levels.length * scale.cloudItems;
      frontier.failNext(failures, fault);
      if (both) sovereign.failNext(failures, fault);
      outages += 1;
      const ids: string[] = [];
      for (const level of levels) {
        const id = await submit(
          system.client,
          ledger,
          'outages',
          documentBatch(ledger, rng, level, scale.cloudItems, scale.maxOutputTokens),
        );
        if (id) ids.push(id);
      }
      await waitAllFinished(system.client, ids, FINISH_TIMEOUT_MS);
      frontier.clearFaults();
      sovereign.clearFaults();
      const stats = { items: 0, fellBack: 0, finishedOn: {} as Record<string, number> };
      for (const id of ids) {
        const { json } = await system.client.request('GET', `/v1/batches/${id}/items?limit=1000`);
        for (const item of json.items) {
          stats.items += 1;
          if (item.routeHistory.length > 1) stats.fellBack += 1;
          const provider = item.route?.provider ?? 'none';
          stats.finishedOn[provider] = (stats.finishedOn[provider] ?? 0) + 1;
          const clearance = system.providers.find((p) => p.name === provider)?.clearance ?? 'restricted';
          if (SENSITIVITY_LEVELS.indexOf(item.sensitivity as Sensitivity) > SENSITIVITY_LEVELS.indexOf(clearance)) {
            problems.push(`outage ${label}: ${item.sensitivity} item routed to ${provider} (cleared to ${clearance})`);
          }
        }
      }
      byFault[label] = stats;
      ctx.log(`  outage ${label}: ${JSON.stringify(stats)}`);
      reviveDeadProcesses(ctx, problems);
      // Let the circuits half-open and close again before the next episode.
      await sleep(2500);
    }
    const settled = await settle(ctx, 'outages', problems, true);
    return { outages, byFault, ...settled };
  });
}

/**
 * Malformed JSON, wrong types, huge and deeply nested bodies, odd unicode, random mutations of valid
 * bodies, odd paths. Every answer must be a 2xx for a valid body or a 4xx with a reason; never a 5xx;
 * the API must answer /health between rounds; and Redis must hold exactly the accepted batches more
 * than before (no record written for a refused body).
 */
export async function fuzzPhase(ctx: ChaosContext): Promise<PhaseResult> {
  return runPhase('fuzz', ctx, async (problems) => {
    const { system, ledger, rng, scale } = ctx;
    const before = await system.countRecords();
    const cases = fuzzCases(ledger, rng.fork('fuzz'), scale.fuzzCases, scale.maxOutputTokens);
    const byStatus: Record<string, number> = {};
    const byFamily: Record<string, number> = {};
    let accepted = 0;
    let acceptedItems = 0;
    let healthChecks = 0;
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i];
      byFamily[c.family] = (byFamily[c.family] ?? 0) + 1;
      let answer;
      try {
        answer = await sendCase(system.client.baseUrl, c);
      } catch (err) {
        problems.push(`case ${i} (${c.family} ${c.method} ${c.path}): no answer: ${String(err)}`);
        continue;
      }
      byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
      const what = `case ${i} (${c.family} ${c.method} ${c.path}, body ${String(c.body ?? '').slice(0, 120)}…)`;
      if (answer.status >= 500) problems.push(`${what}: ${answer.status} ${JSON.stringify(answer.json)}`);
      else if (answer.status >= 400) {
        if (c.expect === 'accept')
          problems.push(`${what}: a valid body was refused: ${answer.status} ${JSON.stringify(answer.json)}`);
        if (!hasReason(answer.json))
          problems.push(`${what}: ${answer.status} without a reason: ${JSON.stringify(answer.json)}`);
      } else if (answer.status >= 200 && answer.status < 300) {
        if (c.expect === 'reject') problems.push(`${what}: accepted with ${answer.status}`);
        if (answer.status === 202 && c.path === '/v1/batches') {
          const body = JSON.parse(typeof c.body === 'string' ? c.body : '{}');
          ledger.accept(answer.json.id, 'fuzz', markersOf(body));
          accepted += 1;
          acceptedItems += answer.json.total;
        }
      } else problems.push(`${what}: unexpected status ${answer.status}`);
      if ((i + 1) % 20 === 0 || i === cases.length - 1) {
        healthChecks += 1;
        const health = await system.client.request('GET', '/health').catch(() => null);
        if (health?.status !== 200) problems.push(`after case ${i}: /health answered ${health?.status ?? 'nothing'}`);
      }
    }
    reviveDeadProcesses(ctx, problems);
    const after = await system.countRecords();
    const expected = {
      batches: before.batches + accepted,
      items: before.items + acceptedItems,
      indexed: before.indexed + accepted,
    };
    if (JSON.stringify(after) !== JSON.stringify(expected))
      problems.push(
        `records in Redis ${JSON.stringify(after)}, expected ${JSON.stringify(expected)} (before ${JSON.stringify(before)} + accepted)`,
      );
    // Accepted fuzz bodies are real work; their items must end too (failed is allowed: garbage in).
    const settled = await settle(ctx, 'fuzz', problems, false);
    return { fuzzed: cases.length, accepted, healthChecks, byFamily, byStatus, records: { before, after }, ...settled };
  });
}

const RANDOM_FAULTS: DoubleFault[] = [
  { status: 500 },
  { status: 502 },
  { status: 503 },
  { status: 429, retryAfterSec: 1 },
  { hang: true },
  { cutStream: true },
];

/**
 * Randomized workloads from the seeded PRNG: batches of every sensitivity, faults injected at random on
 * either cloud, now and then a worker killed. The leak check proper runs at the end over every request
 * either double ever recorded; this phase adds the mixed traffic it is run against.
 */
export async function leakPhase(ctx: ChaosContext, killEvery: number): Promise<PhaseResult> {
  return runPhase('leak-workload', ctx, async (problems) => {
    const { system, ledger, scale } = ctx;
    const rng = ctx.rng.fork('leak');
    const bySensitivity: Record<string, number> = {};
    let faults = 0;
    let kills = 0;
    for (let round = 0; round < scale.leakRounds; round++) {
      for (const p of system.providers) {
        if (rng.next() < 0.5) {
          p.double.failNext(rng.int(1, 8), RANDOM_FAULTS[rng.int(0, RANDOM_FAULTS.length - 1)]);
          faults += 1;
        }
      }
      const ids: string[] = [];
      for (let b = rng.int(1, 3); b > 0; b--) {
        const level = randomSensitivity(rng);
        const n = rng.int(1, 6);
        bySensitivity[level] = (bySensitivity[level] ?? 0) + n;
        const id = await submit(
          system.client,
          ledger,
          'leak-workload',
          documentBatch(ledger, rng, level, n, scale.maxOutputTokens),
        );
        if (id) ids.push(id);
      }
      if (killEvery > 0 && round % killEvery === killEvery - 1) {
        await sleep(rng.int(100, 600));
        await system.killAndReplaceWorker(rng.int(0, system.workers.length - 1));
        kills += 1;
      }
      await waitAllFinished(system.client, ids, FINISH_TIMEOUT_MS);
      for (const p of system.providers) p.double.clearFaults();
      reviveDeadProcesses(ctx, problems);
    }
    const settled = await settle(ctx, 'leak-workload', problems, true);
    await system.waitWorkersConsuming();
    return { rounds: scale.leakRounds, faultsInjected: faults, kills, itemsBySensitivity: bySensitivity, ...settled };
  });
}
