import { Logger } from '@nestjs/common';
import type { DocumentTask, WorkItem, BatchTask } from '#libs/domain';
import { runItem, type ItemRunOutcome } from '#libs/jobs';
import { UnsupportedSchemaError } from '#libs/jobs';
import { CallTally, type ItemModel } from '#libs/jobs';
import { PermanentJobError, type JobContext, type JobName } from '#libs/queue';
import { costOf } from '#libs/routing';
import { BudgetHold } from './budget-hold.js';
import type { ItemCalls } from './item-calls.js';
import type { ItemEndings } from './item-endings.js';
import type { ItemOutcome } from './item-outcome.js';
import type { ItemStore } from './item-store.js';
import { PendingWrites } from './pending-writes.js';
import type { ProcessorTarget } from './processor-target.js';
import type { ProviderFeedback } from './provider-feedback.js';
import type { RunningItem } from './running-item.js';
import { itemLogFields } from './item-log-fields.js';
import { recordFailure, recordOutcome, traceItemRun } from '#libs/telemetry';

export type { ProcessorTarget } from './processor-target.js';

export interface ItemProcessorDeps {
  store: Pick<ItemStore, 'transitionOn' | 'transition' | 'task' | 'reserveBudget' | 'releaseBudget'>;
  calls: ItemCalls;
  endings: ItemEndings;
  feedback: ProviderFeedback;
  maxOutputTokens: number;
}

/**
 * Runs one item on one provider and records how it ended: one call, or — for a document or file too long
 * for the provider's context — the many calls of libs/jobs runItem, each through ItemCalls, their usage
 * and cost summed on the item. Every status change goes through the store's guarded transition, so a job
 * that runs again after a crash never completes or charges an item twice, and a job left behind by a
 * reroute never runs it. Every path returns one ItemOutcome; jobResult turns it into what BullMQ sees.
 */
export class ItemProcessor {
  private readonly log = new Logger('item');

  constructor(private readonly deps: ItemProcessorDeps) {}

  /**
   * The item's job failed for good outside what run() records (BullMQ's stall limit: its workers died under it too
   * often; or an error run() did not expect, on the last attempt): the item, still running or queued here, fails
   * with it, so its batch can finish. One moved elsewhere meanwhile, or ended already, is left as it is.
   */
  async jobFailed(item: WorkItem, provider: string, reason: string): Promise<void> {
    const moved = await this.deps.store.transitionOn({
      batchId: item.batchId,
      index: item.index,
      provider,
      from: ['running', 'queued'],
      to: 'failed',
      update: { error: `its job failed: ${reason}`, errorCode: 'job_failed' },
    });
    // The reason may quote an error's message: it goes to the item, not to the logs.
    if (moved === 'applied') this.log.warn({ msg: 'item failed with its job', ...itemLogFields(item), provider });
  }

  /** In a `switchyard.item` span, the child of BullMQ's consumer span: ids, route, attempt and how it ended. */
  /** `preempt`: aborted when its pool takes the item's sequence for one due sooner (preemption), or stops. */
  async run(job: JobContext<JobName.RunItem>, on: ProcessorTarget, preempt?: AbortSignal): Promise<ItemOutcome> {
    const { batchId, index, requestId } = job.data;
    const fields = {
      batchId,
      index,
      requestId,
      target: on.target,
      provider: on.provider.name,
      jobAttempt: job.attempt,
    };
    return traceItemRun(fields, async (span) => {
      const outcome = await this.runItem(job, on, preempt);
      recordOutcome(span, outcome.kind);
      if (outcome.kind === 'failed' || outcome.kind === 'retrying') recordFailure(span, outcome.error);
      return outcome;
    });
  }

  private async runItem(
    job: JobContext<JobName.RunItem>,
    on: ProcessorTarget,
    preempt?: AbortSignal,
  ): Promise<ItemOutcome> {
    const { store, endings } = this.deps;
    const item = job.data;
    // The task is read alongside the transition, not after it: one round trip fewer per item (issue 17), and
    // a read wasted only when the item does not start here.
    const [started, task] = await Promise.all([
      store.transitionOn({
        batchId: item.batchId,
        index: item.index,
        provider: on.provider.name,
        from: ['queued', 'running'],
        to: 'running',
      }),
      store.task(item.batchId),
    ]);
    if (started === 'elsewhere') return endings.elsewhere(item);
    if (started !== 'applied') return { kind: 'skipped' }; // cancelled, or finished by an earlier run of this job
    if (!task) return { kind: 'failed', error: new PermanentJobError(`batch ${item.batchId} has no record`) };

    const run: RunningItem = {
      job,
      on,
      tally: new CallTally(),
      held: BudgetHold.empty(store, item.batchId),
      feedback: new PendingWrites(),
      preempt,
      answers: [],
    };
    const t0 = Date.now();
    try {
      const result = await runItem(
        this.modelFor(run),
        item,
        task,
        this.deps.maxOutputTokens,
        (rejected) => {
          // The checker's message may quote the answer (a property name, a parse snippet): it goes to the
          // retry prompt and the item's error, never to the logs.
          this.log.warn({
            msg: 'answer rejected by its check',
            ...itemLogFields(item),
            provider: on.provider.name,
            part: rejected.part,
            round: rejected.round,
            check: checkOf(item, task),
          });
        },
        run.tally,
      );
      switch (result.kind) {
        case 'stopped':
          return result.stop;
        case 'rejected': {
          const { usage } = run.tally;
          return await endings.answersRejected(run, {
            why: result.message,
            check: checkOf(item, task),
            usage,
            costUsd: costOf(usage, on.price),
            cause: result.cause,
          });
        }
        case 'answered':
          return await this.complete(run, task, result, Date.now() - t0);
      }
    } catch (err) {
      if (!(err instanceof UnsupportedSchemaError)) throw err;
      return await endings.schemaUnsupported(run, err);
    } finally {
      // The item's recorded cost (if any) now counts as spent; what its calls kept reserved goes back.
      await Promise.all([run.held.release(), run.feedback.settle()]);
    }
  }

  /** Records the answer (once: a rerun finds it finished) and what it teaches about the provider. */
  private async complete(
    run: RunningItem,
    task: BatchTask,
    answer: Extract<ItemRunOutcome<ItemOutcome>, { kind: 'answered' }>,
    elapsedMs: number,
  ): Promise<ItemOutcome> {
    const { job, on, tally } = run;
    const item = job.data;
    const { usage, calls, model } = tally;
    const costUsd = costOf(usage, on.price);
    const recorded = await this.deps.store.transition(item.batchId, item.index, ['running'], 'completed', {
      result: answer.result,
      diff: answer.diff ?? undefined,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      costUsd,
    });
    if (recorded) await this.deps.feedback.itemCompleted(run, task, usage, elapsedMs);
    this.log.log({
      msg: recorded ? 'item completed' : 'item result discarded (already finished)',
      ...itemLogFields(item),
      target: on.target,
      provider: on.provider.name,
      model,
      calls,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      costUsd,
      ms: elapsedMs,
    });
    return recorded ? { kind: 'completed' } : { kind: 'skipped' };
  }

  /** The provider as runItem sees it: its context and token counts, and every call through ItemCalls. */
  private modelFor(run: RunningItem): ItemModel<ItemOutcome> {
    const { provider } = run.on;
    return {
      contextTokens: provider.contextTokens,
      countTokens: (text) => provider.countTokens(text),
      promptTokens: (prompt) => provider.promptTokens(prompt.system, prompt.prompt),
      complete: async (prompt, jsonSchema) => {
        const call = await this.deps.calls.call(run, prompt, jsonSchema);
        // libs/jobs stops a run on `{ stop }`: the outcome it ended with comes back as the run's.
        return call.kind === 'answered' ? call.completion : { stop: call.outcome };
      },
    };
  }
}

/** What rejects an item's answers, named without quoting them (for logs and audited route reasons). */
function checkOf(item: WorkItem, task: BatchTask): string {
  if (item.kind === 'code-migration') return 'the code check (parse, cut-off, empty)';
  if (item.kind === 'chat') return 'the JSON check of its response_format';
  return (task as DocumentTask).type === 'summarize' ? 'the empty-answer check' : 'the JSON Schema check';
}
