import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { itemOptions } from './feasibility.js';
import { costLowerBound } from './lower-bound.js';
import { allCloud, allLocal, batchApi, switchyard, threshold, type Router, type RouterName } from './routers.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import type { Resources } from './resources.js';
import { PRODUCTION, simulate, type SystemConfig } from './simulator.js';
import { generateWorkload } from './workload.js';

export interface PolicyReport {
  name: RouterName;
  costUsd: number;
  costRatioToBound: number;
  deadlineHitRate: number;
  leaks: number;
}

export interface ScenarioReport {
  name: string;
  items: number;
  bound: { costUsd: number };
  policies: PolicyReport[];
}

interface Extra {
  cloudItems: number;
  escalations: number;
  failedRequests: number;
  preemptions: number;
  deferrals: number;
}

export const ROUTERS: ReadonlyArray<() => Router> = [switchyard, allCloud, allLocal, threshold, batchApi];

/** The routers compared in a scenario: the Batch-API-only one where some provider sells a batch route. */
export function routersFor(scenario: Scenario): ReadonlyArray<() => Router> {
  const hasBatch = scenario.resources.clouds.some((c) => c.name.endsWith('.batch'));
  return ROUTERS.filter((make) => make !== batchApi || hasBatch);
}

/**
 * Independent workloads per scenario (seeds seed, seed+1000, ...), pooled. Costs are heavy-tailed: one
 * 30k-token confidential document that misses the local pool by seconds costs a fifth of a run's bound
 * on the sovereign endpoint, so a single seed's ratio swings by ±15% on the dice alone. Hit rates too: in
 * all-cloud-down one seed in three overloads the local pool with local-only work, and with three runs that
 * one seed moved the pooled rate by 0.2 points; six keep such a seed from deciding the result.
 */
export const REPLICATIONS = 6;

/** Runs every policy over a scenario's workloads and scores it against the offline bound. */
export function runScenario(
  scenario: Scenario,
  routers = ROUTERS,
  replications = REPLICATIONS,
  system: SystemConfig = PRODUCTION,
  exactSizes = false,
  /** Run the routers on these resources instead (still scored against the scenario's own bound). */
  simulateOn: Resources = scenario.resources,
): ScenarioReport & { extra: Extra[]; overcommitted: number } {
  const totals = routers.map(() => ({
    name: '' as RouterName,
    costUsd: 0,
    hits: 0,
    leaks: 0,
    cloudItems: 0,
    escalations: 0,
    failedRequests: 0,
    preemptions: 0,
    deferrals: 0,
  }));
  let items = 0;
  let boundUsd = 0;
  let feasibleItems = 0;
  let overcommitted = 0;
  for (let r = 0; r < replications; r++) {
    const generated = generateWorkload({ ...scenario.workload, seed: scenario.workload.seed + 1000 * r });
    // --exact-sizes: the policy is told each item's true output length (a diagnostic: how much of the gap is estimation).
    const workload = exactSizes
      ? generated.map((item) => ({ ...item, expectedOutputTokens: item.outputTokens }))
      : generated;
    const bound = costLowerBound(workload, scenario.resources);
    const feasible = workload.map((item) => itemOptions(item, scenario.resources).feasible);
    items += workload.length;
    boundUsd += bound.costUsd;
    feasibleItems += bound.feasibleItems;
    if (bound.overcommitted) overcommitted += 1;
    routers.forEach((make, k) => {
      const router = make();
      const result = simulate(workload, simulateOn, router, system);
      const t = totals[k];
      t.name = router.name;
      t.costUsd += result.costUsd;
      t.hits += result.outcomes.filter((o, i) => feasible[i] && o.finishedAt <= workload[i].deadline).length;
      t.leaks += result.leaks;
      t.cloudItems += result.cloudItems;
      t.escalations += result.escalations;
      t.failedRequests += result.failedRequests;
      t.preemptions += result.preemptions;
      t.deferrals += result.deferrals;
    });
  }
  return {
    name: scenario.name,
    items,
    bound: { costUsd: round(boundUsd, 6) },
    policies: totals.map((t) => ({
      name: t.name,
      costUsd: round(t.costUsd, 6),
      costRatioToBound: round(t.costUsd / boundUsd, 4),
      deadlineHitRate: round(feasibleItems === 0 ? 1 : t.hits / feasibleItems, 4),
      leaks: t.leaks,
    })),
    extra: totals.map(({ cloudItems, escalations, failedRequests, preemptions, deferrals }) => ({
      cloudItems,
      escalations,
      failedRequests,
      preemptions,
      deferrals,
    })),
    overcommitted,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the bench');
    dir = up;
  }
  return dir;
}

function main(argv: string[]): void {
  const only = argv.includes('--scenario') ? argv[argv.indexOf('--scenario') + 1] : undefined;
  // --replications N: more workloads per scenario, to tell a change's effect from one seed's dice (not recorded).
  const replications = argv.includes('--replications')
    ? Number(argv[argv.indexOf('--replications') + 1])
    : REPLICATIONS;
  if (!Number.isInteger(replications) || replications < 1) throw new Error('--replications takes a positive integer');
  if (replications !== REPLICATIONS && argv.includes('--record'))
    throw new Error(`--record keeps the ${REPLICATIONS} replications the results are compared at`);
  const scenarios = SCENARIOS.filter((s) => !only || s.name === only);
  // --static-estimates: the policy keeps production's output rules, learning nothing (what TokenCalibration buys).
  let system: SystemConfig = argv.includes('--static-estimates')
    ? { ...PRODUCTION, name: 'static-estimates', learnTokenRatios: false }
    : PRODUCTION;
  // --no-coming: a pool not consuming is down, as before issue 19 (what counting capacity that is coming buys).
  if (argv.includes('--no-coming'))
    system = { ...system, name: `${system.name}, no-coming`, countComingCapacity: false };
  // --no-preempt: running local work never gives its sequence to an item due sooner (before LOCAL_PREEMPT_SLACK_MS).
  if (argv.includes('--no-preempt')) system = { ...system, name: `${system.name}, no-preempt`, preemptSlackMs: null };
  // --no-defer: late local work nothing can move keeps its place (before the watchdog deferred it).
  if (argv.includes('--no-defer')) system = { ...system, name: `${system.name}, no-defer`, deferLateWork: false };
  const reports: ScenarioReport[] = [];
  for (const scenario of scenarios) {
    const t0 = Date.now();
    const { extra, overcommitted, ...report } = runScenario(
      scenario,
      routersFor(scenario),
      replications,
      system,
      argv.includes('--exact-sizes'),
    );
    // Where providers sell tiers: what Switchyard would pay routing the same workload over standard prices only.
    const standardOnly = {
      ...scenario.resources,
      clouds: scenario.resources.clouds.filter((c) => !c.name.includes('.')),
    };
    if (standardOnly.clouds.length < scenario.resources.clouds.length) {
      const single = runScenario(
        scenario,
        [switchyard],
        replications,
        system,
        argv.includes('--exact-sizes'),
        standardOnly,
      );
      report.policies.push({ ...single.policies[0], name: 'single-tier' });
      extra.push(single.extra[0]);
    }
    reports.push(report);
    console.log(
      `${scenario.name} (${report.items} items in ${replications} runs, ${scenario.about}): bound $${report.bound.costUsd.toFixed(4)} [${Date.now() - t0} ms]`,
    );
    if (overcommitted > 0)
      console.log(
        `  note: in ${overcommitted} run(s) local-only work exceeds local capacity: no routing meets every feasible deadline`,
      );
    report.policies.forEach((p, i) => {
      const x = extra[i];
      console.log(
        `  ${p.name.padEnd(10)} $${p.costUsd.toFixed(4).padStart(8)}  x${p.costRatioToBound.toFixed(3)}  hit ${(100 * p.deadlineHitRate).toFixed(2)}%  leaks ${p.leaks}` +
          `  cloud ${x.cloudItems}  escalated ${x.escalations}  failed requests ${x.failedRequests}  preempted ${x.preemptions}  deferred ${x.deferrals}`,
      );
    });
  }
  const out = { scenarios: reports };
  if (argv.includes('--record')) {
    const path = join(repoRoot(), 'bench', 'results', 'routing.json');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(out, null, 2) + '\n');
  }
  console.log(JSON.stringify(out));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
