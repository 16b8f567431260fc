import { Logger } from '@nestjs/common';
import type { BatchStore } from '#libs/batches/src/batch-store.js';
import type { CodeMigrationTask, DocumentTask, WorkItem } from '#libs/batches/src/batch-types.js';
import { promptFor } from '#libs/jobs/src/item-prompt.js';
import type { ProviderDirectory } from '#libs/pools/src/provider-directory.js';
import { JobName, MAINTENANCE_QUEUE, queueRefFor, type ConsumerHandle, type JobQueue } from '#libs/queue/src/index.js';
import { workTokens, type RoutableItem, type RoutingPolicy } from '#libs/routing/src/routing-policy.js';
import { estimateTokens } from '#libs/routing/src/token-estimate.js';
import type { ItemRerouter } from './item-rerouter.js';

/** Waiting items looked at per local queue and sweep; the rest wait for the next sweep. */
const SWEEP_LIMIT = 1000;

/**
 * Re-checks waiting local items against their deadlines. Walking each local queue in the order it will
 * run (earliest deadline first), it adds up the work ahead of every item; one that will now miss its
 * deadline moves — once, atomically, from 'queued' — to a cleared provider that can still meet it. The
 * sweep is a BullMQ Job Scheduler, so every interval runs once across all workers.
 */
export class EscalationWatchdog {
  private readonly log = new Logger('escalation');
  private consumer?: ConsumerHandle;

  constructor(
    private readonly jobs: JobQueue,
    private readonly store: BatchStore,
    private readonly directory: ProviderDirectory,
    private readonly rerouter: ItemRerouter,
    private readonly localModels: string[],
    private readonly intervalMs: number,
    private readonly maxOutputTokens: number,
    private readonly policy: RoutingPolicy,
  ) {}

  async start(): Promise<void> {
    await this.jobs.schedule(MAINTENANCE_QUEUE, 'escalation-sweep', { every: this.intervalMs }, JobName.EscalationSweep, {});
    this.consumer = this.jobs.consume<JobName.EscalationSweep>(
      MAINTENANCE_QUEUE,
      async () => {
        try {
          return { moved: await this.sweep() };
        } catch (err) {
          this.log.error({ msg: 'escalation sweep failed', error: err instanceof Error ? err.message : String(err) });
          throw err;
        }
      },
      { concurrency: 1 },
    );
  }

  async stop(): Promise<void> {
    await this.consumer?.close(5000);
  }

  /** One pass over every local queue; returns how many items it moved. */
  async sweep(now = Date.now()): Promise<number> {
    const state = await this.directory.routingState(now);
    const tasks = new Map<string, DocumentTask | CodeMigrationTask | null>();
    let moved = 0;
    for (const model of this.localModels) {
      const view = state.providers.find((p) => p.target === 'local' && p.name === model);
      if (!view) continue;
      const waiting = await this.jobs.waiting<JobName.RunItem>(queueRefFor('local', model), SWEEP_LIMIT);
      const rate = view.tokensPerSec * Math.max(1, view.concurrency);
      // Work already running is ahead of everything waiting.
      const work: number[] = []; // cumulative work up to and including each waiting item
      let waitingWork = 0;
      for (const j of waiting) work.push((waitingWork += await this.workOf(j.data, tasks)));
      const running = Math.max(0, view.backlogTokens - waitingWork);
      for (let i = 0; i < waiting.length; i++) {
        const item = waiting[i].data;
        const finishAt = now + ((running + work[i]) / rate) * 1000;
        if (finishAt <= item.deadline) continue;
        const from = { target: 'local' as const, provider: model };
        // The policy moves it only once waiting longer could leave no cleared cloud provider on time.
        const decision = this.policy.escalation(await this.routable(item, tasks), { now, providers: state.providers.filter((p) => p.target === 'cloud' && p.available !== false) });
        if (!decision) continue;
        const why = `escalated: local finish estimated ${new Date(finishAt).toISOString()} misses the deadline`;
        if (await this.rerouter.apply(item, from, decision, why, ['queued'])) {
          moved += 1;
          await this.jobs.removeWaiting(queueRefFor('local', model), waiting[i].id);
          this.log.log({ msg: 'item escalated', batchId: item.batchId, index: item.index, from: model, to: decision.provider });
        }
      }
    }
    return moved;
  }

  private async workOf(item: WorkItem, tasks: Map<string, DocumentTask | CodeMigrationTask | null>): Promise<number> {
    return workTokens(await this.routable(item, tasks));
  }

  private async routable(item: WorkItem, tasks: Map<string, DocumentTask | CodeMigrationTask | null>): Promise<RoutableItem> {
    if (!tasks.has(item.batchId)) tasks.set(item.batchId, await this.store.task(item.batchId));
    const task = tasks.get(item.batchId);
    if (!task) return { sensitivity: item.sensitivity, deadline: item.deadline, inputTokens: 0, expectedOutputTokens: 0 };
    const p = promptFor(item, task, this.maxOutputTokens);
    return { sensitivity: item.sensitivity, deadline: item.deadline, inputTokens: estimateTokens(p.system) + estimateTokens(p.prompt), expectedOutputTokens: p.expectedOutputTokens };
  }
}
