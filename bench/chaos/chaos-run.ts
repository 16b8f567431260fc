import { ensureGeneratedModel } from '#libs/gguf';
import { Random } from '../routing/random.js';
import { ChaosSystem } from './chaos-system.js';
import { audit, leakCheck, Ledger } from './ledger.js';
import {
  fuzzPhase,
  leakPhase,
  outagePhase,
  redisRestartPhase,
  workerKillPhase,
  type ChaosScale,
  type PhaseResult,
} from './phases.js';

export type ChaosMode = 'quick' | 'full';

/** Quick: every phase once, small (CI). Full: several of each, a few minutes on a 2-core machine. */
export const SCALES: Record<ChaosMode, ChaosScale> = {
  quick: {
    kills: 2,
    redisRestarts: 1,
    outages: 3,
    fuzzCases: 80,
    leakRounds: 3,
    localItems: 10,
    cloudItems: 6,
    maxOutputTokens: 48,
  },
  full: {
    kills: 6,
    redisRestarts: 3,
    outages: 5,
    fuzzCases: 400,
    leakRounds: 8,
    localItems: 16,
    cloudItems: 8,
    maxOutputTokens: 64,
  },
};

/** The quotable summary: the counts, in this order. */
export interface ChaosSummary {
  kills: number;
  redisRestarts: number;
  outages: number;
  fuzzed: number;
  items: number;
  lost: number;
  duplicated: number;
  leaked: number;
}

export interface ChaosReport {
  summary: ChaosSummary;
  ok: boolean;
  mode: ChaosMode;
  /** Redis as one server, or a Cluster whose "Redis crashes" kill a master (its replica takes over). */
  redis: 'server' | 'cluster';
  seed: number;
  seconds: number;
  phases: PhaseResult[];
  /** Every accepted item, all phases: how each ended. */
  outcome: { batches: number; completed: number; failed: number; reran: number };
  cloudRequests: Record<string, number>;
  leakDetails: string[];
  problems: string[];
}

/**
 * Starts the system, runs every phase in turn against it, then audits every accepted batch of the run
 * together and checks every request the doubles recorded. `ok` is false when anything was lost,
 * duplicated or leaked, or a phase failed.
 */
export async function runChaos(
  mode: ChaosMode,
  seed: number,
  log: (line: string) => void = () => undefined,
  logsDir?: string,
  cluster = false,
): Promise<ChaosReport> {
  const t0 = Date.now();
  const scale = SCALES[mode];
  // The tiny model must exist before the clock of any phase starts (generated once, ~2 MB).
  await ensureGeneratedModel('tiny');
  const rng = new Random(seed);
  const ledger = new Ledger(seed.toString(36));
  log(
    `chaos ${mode}${cluster ? ' --cluster' : ''}, seed ${seed}: starting ${cluster ? 'a Redis Cluster (3 masters + 3 replicas)' : 'redis'}, the API, 2 workers and 2 OpenAI doubles`,
  );
  const system = await ChaosSystem.start({ workers: 2, maxOutputTokens: scale.maxOutputTokens, log, cluster });
  const phases: PhaseResult[] = [];
  try {
    const ctx = { system, ledger, rng, scale, log };
    phases.push(await workerKillPhase({ ...ctx, rng: rng.fork('kills') }));
    phases.push(await redisRestartPhase({ ...ctx, rng: rng.fork('redis') }));
    phases.push(await outagePhase({ ...ctx, rng: rng.fork('outages') }));
    phases.push(await fuzzPhase({ ...ctx, rng: rng.fork('fuzz') }));
    phases.push(
      await leakPhase(
        { ...ctx, rng: rng.fork('leak') },
        mode === 'full' ? 4 : 0 /* full: a worker killed every 4th round */,
      ),
    );

    const all = await audit(system.client, ledger.accepted, system.workerOutput());
    const leaks = leakCheck(system.providers, ledger, all.sensitivity);
    const num = (phase: string, key: string) => Number(phases.find((p) => p.phase === phase)?.detail[key] ?? 0);
    const summary: ChaosSummary = {
      kills: num('worker-kills', 'kills') + num('leak-workload', 'kills'),
      redisRestarts: system.redis.restarts,
      outages: num('outages', 'outages') + num('leak-workload', 'faultsInjected'),
      fuzzed: num('fuzz', 'fuzzed'),
      items: all.items,
      lost: all.lost,
      duplicated: all.duplicated,
      leaked: leaks.leaked,
    };
    const ok = summary.lost === 0 && summary.duplicated === 0 && summary.leaked === 0 && phases.every((p) => p.ok);
    return {
      summary,
      ok,
      mode,
      redis: cluster ? 'cluster' : 'server',
      seed,
      seconds: Math.round((Date.now() - t0) / 1000),
      phases,
      outcome: { batches: ledger.accepted.length, completed: all.completed, failed: all.failed, reran: all.reran },
      cloudRequests: leaks.requests,
      leakDetails: leaks.details.slice(0, 50),
      problems: [...all.problems, ...phases.flatMap((p) => p.problems.map((x) => `${p.phase}: ${x}`))].slice(0, 100),
    };
  } finally {
    if (logsDir) await system.dumpLogs(logsDir);
    await system.stop();
  }
}
