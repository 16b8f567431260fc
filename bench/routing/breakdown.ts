import { fileURLToPath } from 'node:url';
import { itemOptions } from './feasibility.js';
import { costLowerBound } from './lower-bound.js';
import { switchyard } from './routers.js';
import { SCENARIOS } from './scenarios.js';
import { REPLICATIONS } from './simulate.js';
import { PRODUCTION, simulate } from './simulator.js';
import { generateWorkload } from './workload.js';

interface Group {
  items: number;
  /** What Switchyard paid for these items minus what the bound charges them. */
  excessUsd: number;
  /** Feasible items that finished after their deadline. */
  missed: number;
}

/**
 * Where Switchyard pays more than the offline bound (issue 19), by cause: each item's cost minus the bound's
 * charge for it, grouped by sensitivity, deadline band, whether the bound gives it local capacity
 * (`bound-local`, in part at least), and where it ended. Not recorded: a diagnostic for changing the policy.
 *   node dist/bench/routing/breakdown.js [--scenario NAME] [--replications N]
 */
function main(argv: string[]): void {
  const only = argv.includes('--scenario') ? argv[argv.indexOf('--scenario') + 1] : undefined;
  const replications = argv.includes('--replications')
    ? Number(argv[argv.indexOf('--replications') + 1])
    : REPLICATIONS;
  for (const scenario of SCENARIOS.filter((s) => !only || s.name === only)) {
    const groups = new Map<string, Group>();
    let boundUsd = 0;
    let excessUsd = 0;
    for (let r = 0; r < replications; r++) {
      const workload = generateWorkload({ ...scenario.workload, seed: scenario.workload.seed + 1000 * r });
      const bound = costLowerBound(workload, scenario.resources);
      boundUsd += bound.costUsd;
      const result = simulate(workload, scenario.resources, switchyard(), PRODUCTION);
      result.outcomes.forEach((o, i) => {
        const item = workload[i];
        const options = itemOptions(item, scenario.resources);
        const charged = bound.perItemUsd.get(item.id)!;
        const boundRoute =
          options.cloudCostUsd === null
            ? 'local-only'
            : charged < options.cloudCostUsd - 1e-12
              ? 'bound-local'
              : 'bound-cloud';
        const key = [
          item.sensitivity.padEnd(12),
          band(item.deadline - item.arrivalAt).padEnd(5),
          boundRoute.padEnd(11),
          `-> ${o.sentTo[o.sentTo.length - 1]}${o.escalated ? ' (escalated)' : ''}`,
        ].join(' ');
        const g = groups.get(key) ?? { items: 0, excessUsd: 0, missed: 0 };
        g.items += 1;
        g.excessUsd += o.costUsd - charged;
        if (options.feasible && o.finishedAt > item.deadline) g.missed += 1;
        groups.set(key, g);
        excessUsd += o.costUsd - charged;
      });
    }
    console.log(
      `${scenario.name}: bound $${boundUsd.toFixed(4)}, Switchyard pays $${excessUsd.toFixed(4)} more (x${((boundUsd + excessUsd) / boundUsd).toFixed(3)})`,
    );
    [...groups.entries()]
      .sort((a, b) => b[1].excessUsd - a[1].excessUsd)
      .filter(([, g], i, all) => i < 12 || i >= all.length - 4 || g.missed > 0)
      .forEach(([key, g]) =>
        console.log(
          `  ${key.padEnd(60)} items ${String(g.items).padStart(6)}  excess $${g.excessUsd.toFixed(4)} (${((100 * g.excessUsd) / boundUsd).toFixed(1)}% of bound)  missed ${g.missed}`,
        ),
      );
  }
}

function band(ms: number): string {
  if (ms < 2 * 60_000) return 'secs';
  if (ms < 60 * 60_000) return 'mins';
  if (ms < 24 * 60 * 60_000) return 'hours';
  return 'day';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
