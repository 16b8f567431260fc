import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { sensitivityRank, type WorkItem } from '#libs/domain';
import { ClearanceError, ProviderError, isRefusal, type TokenUsage } from '#libs/providers';
import { PermanentJobError } from '#libs/queue';
import { costOf } from '#libs/routing';
import { metrics } from '#libs/metrics';
import { keptAnswers } from './answered-calls.js';
import type { ItemOutcome } from './item-outcome.js';
import type { ItemRerouter } from './item-rerouter.js';
import type { ItemStore } from './item-store.js';
import { fromOf, LOCK_LOST, spentOf, STOPPING, stoppedFor, type RunningItem } from './running-item.js';
import { itemLogFields } from './item-log-fields.js';

export interface ItemEndingsDeps {
  store: Pick<ItemStore, 'transition' | 'item' | 'chargeLate'>;
  rerouter: Pick<ItemRerouter, 'propose' | 'apply' | 'reroute' | 'deadEnd' | 'enqueueCurrent'>;
}

/** Why every check of an item's answers failed, for the record. */
export interface Rejection {
  /** The checker's message: to the item's error, never to the logs. */
  why: string;
  /** What rejected the answers, named without quoting them (logs, audited route reasons). */
  check: string;
  usage: TokenUsage;
  costUsd: number;
  /** 'context': the provider's context cannot hold the item, whatever its answers. */
  cause?: 'context';
}

/**
 * Every way a running item ends other than with its answer recorded: cancelled, requeued, rerouted to a
 * provider that can still take it, or failed — each recorded through the store's guarded transition from
 * 'running', each returned as an ItemOutcome. Errors are never swallowed: a failure's outcome carries the
 * error the job must throw, so BullMQ retries what may succeed.
 */
export class ItemEndings {
  private readonly log = new Logger('item');

  constructor(private readonly deps: ItemEndingsDeps) {}

  /** The batch was cancelled while the item ran: it ends cancelled, charged for the calls it made. */
  async cancelled(run: RunningItem): Promise<ItemOutcome> {
    const { batchId, index } = run.job.data;
    const { usage } = run.tally;
    await this.deps.store.transition(batchId, index, ['running'], 'cancelled', {
      error: 'cancelled while running',
      ...usage,
      costUsd: costOf(usage, run.on.price),
    });
    this.log.log({
      msg: 'item cancelled while running',
      ...itemLogFields(run.job.data),
      provider: run.on.provider.name,
      calls: run.tally.calls,
    });
    return { kind: 'cancelled' };
  }

  /** The cloud gate refused the call (circuit, probe, budget): the item moves, carrying what it used here. */
  async refused(run: RunningItem, why: string, localOnly = false): Promise<ItemOutcome> {
    const moved = await this.deps.rerouter.reroute(run.job.data, fromOf(run), {
      why,
      localOnly: localOnly || undefined,
      spent: spentOf(run),
    });
    return moved ? { kind: 'rerouted', to: moved.provider } : { kind: 'skipped' };
  }

  /** The provider's token quota is used up before the item's first call: it waits in the queue, its slot freed. */
  async rateLimited(run: RunningItem, waitMs: number): Promise<ItemOutcome> {
    const { batchId, index } = run.job.data;
    await this.deps.store.transition(batchId, index, ['running'], 'queued');
    return { kind: 'rate-limited', waitMs };
  }

  /**
   * Its run was stopped by its pool: for an item due sooner (preemption), or because the pool is stopping. It is
   * queued again on the same provider, to run from the start later, charged for any calls it finished, its job
   * back with its deadline's priority and no attempt spent.
   */
  async preempted(run: RunningItem): Promise<ItemOutcome> {
    const why = run.preempt?.reason;
    if (stoppedFor(why, LOCK_LOST)) return this.abandoned(run);
    const { batchId, index } = run.job.data;
    await this.deps.store.transition(batchId, index, ['running'], 'queued', { carry: spentOf(run) });
    const stopping = stoppedFor(why, STOPPING);
    this.log.log({
      msg: stopping ? 'item handed back: its worker is stopping' : 'item preempted by one due sooner',
      ...itemLogFields(run.job.data),
      provider: run.on.provider.name,
      calls: run.tally.calls,
    });
    // The answers its calls got go back with its job: the rerun sends only the calls that had not answered.
    if (run.answers.length === 0) return { kind: 'preempted' };
    return { kind: 'preempted', data: { ...run.job.data, answered: keptAnswers(run.answers) } };
  }

  /**
   * Its worker lost the job's lock: the stalled check may have given the job to another worker, which runs the item
   * now. Queuing the item again, or failing it, would undo that run's start; so its status is left alone, and the
   * job to BullMQ. What this run's finished calls used is charged to the item all the same, as a provider batch line
   * it had left is (BatchStore.chargeLate): the provider billed them. Still open, the item carries it into its
   * final usage; finished already, it and its batch add it at once. Once per run (its own line).
   */
  async abandoned(run: RunningItem): Promise<ItemOutcome> {
    const spent = spentOf(run);
    const { batchId, index } = run.job.data;
    let charged: string = 'nothing to charge';
    if (spent) {
      try {
        charged = await this.deps.store.chargeLate({
          batchId,
          index,
          line: `lost:${run.job.id}:${randomUUID()}`,
          spent,
        });
      } catch (err) {
        // The run stays abandoned whatever happened here: its job is another worker's now.
        charged = `not charged: ${String(err)}`;
      }
    }
    this.log.warn({
      msg: "item run abandoned: its worker lost the job's lock, so another worker may be running it",
      ...itemLogFields(run.job.data),
      provider: run.on.provider.name,
      calls: run.tally.calls,
      ...spent,
      charged,
    });
    return { kind: 'abandoned' };
  }

  /** This job's item was moved to another provider; make sure a job waits there (crash-safe reroutes). */
  async elsewhere(item: WorkItem): Promise<ItemOutcome> {
    const view = await this.deps.store.item(item.batchId, item.index);
    if (view?.status === 'queued' && view.route) {
      await this.deps.rerouter.enqueueCurrent(item, view.route.target, view.route.provider, view.routeHistory.length);
    }
    return { kind: 'skipped' };
  }

  /** The task's schema cannot check answers (a recursive schema accepted before intake refused them): the item fails once with the reason, and no further call is paid for (issue 13 §4). */
  async schemaUnsupported(run: RunningItem, err: Error): Promise<ItemOutcome> {
    const { batchId, index } = run.job.data;
    const { usage } = run.tally;
    await this.deps.store.transition(batchId, index, ['running'], 'failed', {
      error: err.message,
      errorCode: 'schema_unsupported',
      ...usage,
      costUsd: costOf(usage, run.on.price),
    });
    this.log.warn({
      msg: 'item failed: its schema cannot check answers',
      ...itemLogFields(run.job.data),
      provider: run.on.provider.name,
    });
    return { kind: 'failed', error: new PermanentJobError(err.message) };
  }

  /**
   * Every check failed (or the input cannot be split to fit the model). A local answer escalates to a
   * cleared cloud provider if one can take the item (deadline and sensitivity allow) — with its own,
   * usually larger, context; otherwise the item fails with the checker's message. An item this provider's
   * context cannot hold (`cause: 'context'`) moves to any cleared provider whose context can, late or not.
   */
  async answersRejected(run: RunningItem, rejection: Rejection): Promise<ItemOutcome> {
    const { rerouter, store } = this.deps;
    const { why, check, usage, costUsd, cause } = rejection;
    const { on } = run;
    const item = run.job.data;
    // Audited as the route's reason, and the job's reason (kept in Redis, shown in Bull Board): it names the check,
    // never the checker's own words, which may quote the answer; those go to the item's error.
    const reason = cause === 'context' ? `${on.provider.name}'s context too small` : `answers rejected by ${check}`;
    if (on.target === 'local' || cause === 'context') {
      const from = fromOf(run);
      // This model's answers failed every check (or its context cannot hold the item): it is not asked again for
      // this item (ruled out).
      const left = { ruleOut: true };
      const decision = await rerouter.propose(item, from, { cloudOnly: cause !== 'context', left });
      // The rejected answers were generated and are paid for: the item carries their usage to the cloud.
      const spent = { ...usage, costUsd };
      const moves = decision !== null && (cause === 'context' ? !decision.contextTooSmall : !decision.atRisk);
      if (
        moves &&
        (await rerouter.apply(item, from, decision, { why: reason, statuses: ['running'], detail: why, spent, left }))
      ) {
        metrics.itemEscalated(
          on.provider.name,
          decision.provider,
          cause === 'context' ? 'context_too_small' : 'answers_rejected',
        );
        this.log.warn({
          msg: 'item escalated after invalid answers',
          ...itemLogFields(item),
          from: on.provider.name,
          to: decision.provider,
        });
        return { kind: 'rerouted', to: decision.provider };
      }
    }
    const error = on.target === 'local' || cause === 'context' ? `${why}; ${await rerouter.deadEnd(item)}` : why;
    await store.transition(item.batchId, item.index, ['running'], 'failed', {
      error,
      // Too long for every cleared context is the request's fault (OpenAI answers it 400); answers that failed
      // every check are the models'.
      errorCode: cause === 'context' ? 'context_exceeded' : 'output_check_failed',
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      costUsd,
    });
    this.log.warn({
      msg: 'item failed its output check',
      ...itemLogFields(item),
      provider: on.provider.name,
      check,
    });
    return { kind: 'failed', error: new PermanentJobError(reason) };
  }

  /**
   * A call failed. Before the last attempt a retryable failure queues the item again for BullMQ's retry.
   * What a cloud provider will not finish goes to the next cleared provider, else a local model (cleared
   * for all); what cannot move fails, with where it was ruled out.
   */
  async callFailed(run: RunningItem, err: unknown): Promise<ItemOutcome> {
    const { store, rerouter } = this.deps;
    const { job, on } = run;
    // A provider's own scan found the request above its marking: it moves as what it was found to be, so the
    // routing policy weighs only providers cleared for that.
    const item =
      err instanceof ClearanceError && sensitivityRank(err.sensitivity) > sensitivityRank(job.data.sensitivity)
        ? { ...job.data, sensitivity: err.sensitivity }
        : job.data;
    const retryable = err instanceof ProviderError ? err.retryable : true;
    const message = err instanceof Error ? err.message : String(err);
    const final = !retryable || job.isLastAttempt;
    // A refusal (400, context exceeded, 413, 422) rules the provider out for this item: it is never sent there
    // again, so it cannot go back and forth between a refusing provider and one whose answers fail.
    const refused = isRefusal(err);
    const leaving = final && on.target === 'cloud' && !(err instanceof ProviderError && err.code === 'aborted');
    if (leaving) {
      const why = refused ? `${on.provider.name} refused it: ${message}` : `${on.provider.name} failed: ${message}`;
      const moved = await rerouter.reroute(item, fromOf(run), { why, spent: spentOf(run), left: { ruleOut: refused } });
      if (moved) {
        this.log.warn({
          msg: 'item rerouted',
          ...itemLogFields(item),
          from: on.provider.name,
          to: moved.provider,
          attempt: job.attempt,
          error: message,
        });
        return { kind: 'rerouted', to: moved.provider };
      }
    }
    this.log.warn({
      msg: final ? 'item failed' : 'item attempt failed, will retry',
      ...itemLogFields(item),
      target: on.target,
      provider: on.provider.name,
      attempt: job.attempt,
      error: message,
    });
    if (final) {
      const { usage } = run.tally;
      const error = leaving ? `${message}; ${await rerouter.deadEnd(item)}` : message;
      await store.transition(item.batchId, item.index, ['running'], 'failed', {
        error,
        // The provider's own code (a refusal, or what failed once retries ran out); anything else is internal.
        errorCode: err instanceof ProviderError ? err.code : 'internal_error',
        ...usage,
        costUsd: costOf(usage, on.price),
      });
      return { kind: 'failed', error: retryable ? err : new PermanentJobError(message) };
    }
    // The retry starts its tally over: what this attempt's calls used stays with the item.
    await store.transition(item.batchId, item.index, ['running'], 'queued', {
      error: `attempt ${job.attempt} failed: ${message}`,
      carry: spentOf(run),
    });
    return { kind: 'retrying', error: err };
  }
}
