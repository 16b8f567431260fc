import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { BatchStore, ItemSpent } from '#libs/batches/src/batch-store.js';
import type { CodeMigrationTask, DocumentTask, WorkItem } from '#libs/batches/src/batch-types.js';
import { taskKind, routableItem } from '#libs/batches/src/item-estimate.js';
import { runItem } from '#libs/jobs/src/item-run.js';
import { UnsupportedSchemaError } from '#libs/jobs/src/document-processing/structured-output.js';
import { CallTally, type ItemModel } from '#libs/jobs/src/model-calls.js';
import type { Prompt } from '#libs/jobs/src/prompt.js';
import type { CircuitRegistry } from '#libs/pools/src/circuit-registry.js';
import type { PoolRegistry } from '#libs/pools/src/pool-registry.js';
import type { TokenRateLimiter } from '#libs/pools/src/token-rate-limiter.js';
import { ProviderError, isRefusal, type CompletionResult, type InferenceProvider, type TokenUsage } from '#libs/providers/src/completion.js';
import type { ProviderCapabilities } from '#libs/pools/src/provider-capabilities.js';
import { PermanentJobError, RateLimited, type JobContext, type JobName } from '#libs/queue/src/index.js';
import { costOf, type Price } from '#libs/routing/src/cost.js';
import { workTokens, type RouteTarget } from '#libs/routing/src/routing-policy.js';
import { workTokensPerSecond } from '#libs/routing/src/throughput-estimate.js';
import { estimateTokens } from '#libs/routing/src/token-estimate.js';
import type { ItemRerouter } from './item-rerouter.js';

export interface ProcessorTarget {
  target: RouteTarget;
  provider: InferenceProvider;
  price: Price;
  /** Cloud providers: the tokens-per-minute quota shared by all workers. */
  tokensPerMinute?: number | null;
  /** Cloud providers: fixed per-call latency, taken out of speed samples (the router adds it back per call). */
  latencyMs?: number;
  /** Cloud providers: the configured speed, where the measured average starts (recordThroughput). */
  tokensPerSec?: number;
}

export interface ItemProcessorDeps {
  store: BatchStore;
  pools: PoolRegistry;
  circuits: CircuitRegistry;
  tokens: TokenRateLimiter;
  rerouter: ItemRerouter;
  maxOutputTokens: number;
  /** Where a provider's refusals of structured requests are learned from (optional: tests without it learn nothing). */
  capabilities?: ProviderCapabilities;
}

export type ItemOutcome = { outcome: 'completed' | 'skipped' | 'rerouted' | 'cancelled' };

/** What one run of an item has used so far: every call's usage, and the cost of its cloud calls still held in the batch's reservation. */
interface ItemSpend {
  tally: CallTally;
  heldUsd: number;
}

/** How often a running item checks whether its batch was cancelled. */
const CANCEL_POLL_MS = 250;

/** Failures that say the provider is unwell (not that the item is bad, nor that we sent too much). */
const CIRCUIT_FAILURES = new Set(['server_error', 'timeout', 'connection', 'bad_response']);

/**
 * Runs one item on one provider and records the outcome: one call, or — for a document or file too long
 * for the provider's context — the many calls of libs/jobs runItem, each through callOnce, their usage
 * and cost summed on the item. Every status change goes through the store's
 * guarded transition, so a job that runs again after a crash never completes or charges an item twice,
 * and a job left behind by a reroute never runs it. Cloud calls pass the provider's circuit breaker, the
 * batch's budget and the provider's token quota first. Errors are rethrown, never swallowed, so BullMQ
 * retries what may succeed; what a provider cannot finish is rerouted to one that is cleared.
 */
export class ItemProcessor {
  private readonly log = new Logger('item');

  constructor(private readonly deps: ItemProcessorDeps) {}

  async run(job: JobContext<JobName.RunItem>, on: ProcessorTarget): Promise<ItemOutcome> {
    const { store } = this.deps;
    const item = job.data;
    const started = await store.transitionOn({ batchId: item.batchId, index: item.index, provider: on.provider.name, from: ['queued', 'running'], to: 'running' });
    if (started === 'elsewhere') return this.followRoute(item);
    if (started !== 'applied') return { outcome: 'skipped' }; // cancelled, or finished by an earlier run of this job
    const task = await store.task(item.batchId);
    if (!task) throw new PermanentJobError(`batch ${item.batchId} has no record`);

    // One call, or many for a long document or a large file (libs/jobs runItem); each call passes callOnce.
    const spend: ItemSpend = { tally: new CallTally(), heldUsd: 0 };
    const t0 = Date.now();
    try {
      const run = await runItem(this.modelFor(job, on, spend), item, task, this.deps.maxOutputTokens, (rejected) => {
        // The checker's message may quote the answer (a property name, a parse snippet): it goes to the
        // retry prompt and the item's error, never to the logs.
        this.log.warn({ msg: 'answer rejected by its check', batchId: item.batchId, index: item.index, provider: on.provider.name, part: rejected.part, round: rejected.round, check: checkOf(item, task) });
      }, spend.tally);
      if (run.kind === 'stopped') return run.stop;
      const { usage, calls, model } = spend.tally;
      const costUsd = costOf(usage, on.price);
      if (run.kind === 'rejected') return await this.rejectOutput(job, on, run.message, checkOf(item, task), usage, costUsd, run.cause);

      const elapsedMs = Date.now() - t0;
      const recorded = await store.transition(item.batchId, item.index, ['running'], 'completed', {
        result: run.result,
        diff: run.diff ?? undefined,
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        costUsd,
      });
      const tps = workTokensPerSecond(usage, elapsedMs, (on.latencyMs ?? 0) * calls);
      if (recorded && tps !== null) {
        await this.deps.pools.recordThroughput(on.target, on.provider.name, tps, on.tokensPerSec);
      }
      // What the item really used (input as the tokenizer or API counted it, output as written) against what
      // routing assumed before any correction: the next estimates learn from it.
      if (recorded) {
        const estimated = routableItem(item, task, this.deps.maxOutputTokens);
        await this.deps.pools.recordTokenRatios(taskKind(task), usage, { inputTokens: estimated.inputTokens, outputTokens: estimated.expectedOutputTokens });
      }
      this.log.log({
        msg: recorded ? 'item completed' : 'item result discarded (already finished)',
        batchId: item.batchId,
        index: item.index,
        target: on.target,
        provider: on.provider.name,
        model,
        calls,
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        costUsd,
        ms: elapsedMs,
      });
      return { outcome: recorded ? 'completed' : 'skipped' };
    } catch (err) {
      // The task's schema cannot check answers (a recursive schema accepted before intake refused them): the
      // item fails once with the reason, and no further call is paid for (issue 13 §4).
      if (!(err instanceof UnsupportedSchemaError)) throw err;
      const { usage } = spend.tally;
      const { batchId, index } = item;
      const costUsd = costOf(usage, on.price);
      await store.transition(batchId, index, ['running'], 'failed', { error: err.message, ...usage, costUsd });
      const provider = on.provider.name;
      this.log.warn({ msg: 'item failed: its schema cannot check answers', batchId, index, provider });
      throw new PermanentJobError(err.message);
    } finally {
      // The item's recorded cost (if any) now counts as spent; what its calls kept reserved goes back.
      if (spend.heldUsd > 0) await store.releaseBudget(item.batchId, spend.heldUsd);
    }
  }

  /** The provider as runItem sees it: its context and token counts, and every call through callOnce. */
  private modelFor(job: JobContext<JobName.RunItem>, on: ProcessorTarget, spend: ItemSpend): ItemModel<ItemOutcome> {
    const { provider } = on;
    return {
      contextTokens: provider.contextTokens,
      countTokens: (text) => provider.countTokens(text),
      promptTokens: (prompt) => provider.promptTokens(prompt.system, prompt.prompt),
      complete: async (prompt, jsonSchema) => {
        const call = await this.callOnce(job, on, prompt, jsonSchema, spend);
        return 'outcome' in call ? { stop: call } : call;
      },
    };
  }

  /**
   * One completion, with everything around it: for a cloud provider its circuit, the batch budget and the
   * token quota first; cancellation while it runs; failures classified for the circuit and for retries.
   * A cloud call's actual cost stays reserved (spend.heldUsd) until the item records it, so an item of
   * many calls cannot spend past the batch budget between its first call and its last.
   */
  private async callOnce(job: JobContext<JobName.RunItem>, on: ProcessorTarget, prompt: Prompt, jsonSchema: Record<string, unknown> | undefined, spend: ItemSpend): Promise<ItemOutcome | CompletionResult> {
    const { store } = this.deps;
    const item = job.data;
    // Between the calls of a long item: a cancel that came in since the last one stops it before the next is sent.
    if (spend.tally.calls > 0 && (await store.isCancelRequested(item.batchId))) return this.cancelRunning(job, on, spend);
    let reservedUsd = 0;
    if (on.target === 'cloud') {
      const gate = await this.admitToCloud(job, on, prompt, spend);
      if ('outcome' in gate) return gate;
      reservedUsd = gate.reservedUsd;
    }
    const cancel = this.watchCancel(item.batchId);
    const sentAt = Date.now();
    try {
      const completion = await on.provider.complete({
        itemRef: job.id,
        sensitivity: item.sensitivity,
        system: prompt.system,
        prompt: prompt.prompt,
        maxTokens: prompt.maxTokens,
        signal: cancel.signal,
        jsonSchema,
      });
      if (on.target === 'cloud') {
        await this.deps.circuits.recordSuccess(on.provider.name);
        // Each call's duration against its size: the provider's latency and speed, measured (LatencyFit). The
        // answering attempt's own time: a call that waited out a 429 says nothing about speed.
        const { inputTokens, outputTokens } = completion.usage;
        await this.deps.pools.recordCallTiming(on.provider.name, workTokens({ inputTokens, expectedOutputTokens: outputTokens }), completion.attemptMs ?? Date.now() - sentAt);
      }
      const held = Math.min(reservedUsd, costOf(completion.usage, on.price));
      spend.heldUsd += held;
      reservedUsd -= held;
      return completion;
    } catch (err) {
      if (cancel.signal.aborted) return this.cancelRunning(job, on, spend);
      if (on.target === 'cloud' && err instanceof ProviderError && CIRCUIT_FAILURES.has(err.code)) {
        const circuit = await this.deps.circuits.recordFailure(on.provider.name);
        if (circuit.state === 'open') this.log.warn({ msg: 'circuit open', provider: on.provider.name, failures: circuit.failures });
      }
      if (on.target === 'cloud' && jsonSchema && isRefusal(err) && err.code === 'bad_request') await this.learnRefusal(job, on);
      // Awaited here, inside the try: returned bare, its rejection would wait unhandled while the finally
      // block awaits Redis, and Node kills the worker (found by the chaos run on retried cloud failures).
      return await this.fail(job, on, err, spend);
    } finally {
      cancel.stop();
      if (reservedUsd > 0) await store.releaseBudget(item.batchId, reservedUsd);
    }
  }

  /**
   * A structured request refused as invalid (no context overflow, no rate limit): one refusal may be the
   * item's fault, several on different items say the provider cannot do it (llama.cpp's server refuses every
   * `response_format` when its model has no usable chat template). Learned, items needing it go elsewhere.
   */
  private async learnRefusal(job: JobContext<JobName.RunItem>, on: ProcessorTarget): Promise<void> {
    const learned = await this.deps.capabilities?.recordRefusal(on.provider.name, 'structured-output', `${job.data.batchId}:${job.data.index}`);
    if (learned?.learnedNow) {
      const { lack } = learned;
      this.log.warn({ msg: 'provider refuses structured output: routing such items elsewhere', provider: on.provider.name, until: new Date(lack.expiresAt).toISOString(), refusals: lack.refusals });
    }
  }

  /** The batch was cancelled while the item ran: it ends cancelled, charged for the calls it made. */
  private async cancelRunning(job: JobContext<JobName.RunItem>, on: ProcessorTarget, spend: ItemSpend): Promise<ItemOutcome> {
    const item = job.data;
    const { usage } = spend.tally;
    await this.deps.store.transition(item.batchId, item.index, ['running'], 'cancelled', { error: 'cancelled while running', ...usage, costUsd: costOf(usage, on.price) });
    this.log.log({ msg: 'item cancelled while running', batchId: item.batchId, index: item.index, provider: on.provider.name, calls: spend.tally.calls });
    return { outcome: 'cancelled' };
  }

  /**
   * Every check failed (or the input cannot be split to fit the model). A local answer escalates to a
   * cleared cloud provider if one can take the item (deadline and sensitivity allow) — with its own,
   * usually larger, context; otherwise the item fails with the checker's message. An item this provider's
   * context cannot hold (`cause: 'context'`) moves to any cleared provider whose context can, late or not.
   */
  private async rejectOutput(job: JobContext<JobName.RunItem>, on: ProcessorTarget, why: string, check: string, usage: TokenUsage, costUsd: number, cause?: 'context'): Promise<ItemOutcome> {
    const { rerouter } = this.deps;
    const item = job.data;
    if (on.target === 'local' || cause === 'context') {
      const from = { target: on.target, provider: on.provider.name };
      // This model's answers failed every check (or its context cannot hold the item): it is not asked again for
      // this item (ruled out).
      const left = { ruleOut: true };
      const decision = await rerouter.propose(item, from, { cloudOnly: cause !== 'context', left });
      // The route reason is audited: it names the check; the checker's own words go to the item's error.
      // The rejected answers were generated and are paid for: the item carries their usage to the cloud.
      const spent = { ...usage, costUsd };
      const moves = decision !== null && (cause === 'context' ? !decision.contextTooSmall : !decision.atRisk);
      const reason = cause === 'context' ? `${on.provider.name}'s context too small` : `answers rejected by ${check}`;
      if (moves && (await rerouter.apply(item, from, decision, { why: reason, statuses: ['running'], detail: why, spent, left }))) {
        this.log.warn({ msg: 'item escalated after invalid answers', batchId: item.batchId, index: item.index, from: on.provider.name, to: decision.provider });
        return { outcome: 'rerouted' };
      }
    }
    const error = on.target === 'local' || cause === 'context' ? `${why}; ${await rerouter.deadEnd(item)}` : why;
    await this.deps.store.transition(item.batchId, item.index, ['running'], 'failed', { error, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, costUsd });
    this.log.warn({ msg: 'item failed its output check', batchId: item.batchId, index: item.index, provider: on.provider.name, check });
    throw new PermanentJobError(why);
  }

  /**
   * Before anything leaves for a cloud provider: its circuit must admit the call, the batch's budget must
   * cover the worst case (input plus maxTokens), and the provider's token quota must have room. An item's
   * first call waits for the quota in the queue (its slot freed); a later call of a long item waits here,
   * since going back to the queue would redo the calls already made.
   */
  private async admitToCloud(job: JobContext<JobName.RunItem>, on: ProcessorTarget, prompt: Prompt, spend: ItemSpend): Promise<ItemOutcome | { reservedUsd: number }> {
    const { store, circuits, tokens, rerouter } = this.deps;
    const item = job.data;
    const from = { target: on.target, provider: on.provider.name };
    const admission = await circuits.admit(on.provider.name);
    if (admission === 'refused') {
      const moved = await rerouter.reroute(item, from, `circuit open for ${on.provider.name}`, ['running'], { spent: spentOf(spend, on) });
      return { outcome: moved ? 'rerouted' : 'skipped' };
    }
    if (admission === 'probe' && !(await this.probeCircuit(on))) {
      const moved = await rerouter.reroute(item, from, `circuit probe of ${on.provider.name} failed`, ['running'], { spent: spentOf(spend, on) });
      return { outcome: moved ? 'rerouted' : 'skipped' };
    }
    const inputTokens = estimateTokens(prompt.system) + estimateTokens(prompt.prompt);
    const worstUsd = costOf({ inputTokens, outputTokens: prompt.maxTokens }, on.price);
    if (!(await store.reserveBudget(item.batchId, worstUsd))) {
      const moved = await rerouter.reroute(item, from, 'batch budget reached', ['running'], { localOnly: true, spent: spentOf(spend, on) });
      return { outcome: moved ? 'rerouted' : 'skipped' };
    }
    for (let waitMs = 1; on.tokensPerMinute && waitMs > 0; ) {
      waitMs = await tokens.take(on.provider.name, inputTokens + prompt.maxTokens, on.tokensPerMinute);
      if (waitMs === 0) break;
      if (spend.tally.calls === 0) {
        await store.releaseBudget(item.batchId, worstUsd);
        await store.transition(item.batchId, item.index, ['running'], 'queued');
        throw new RateLimited(waitMs);
      }
      await sleep(waitMs);
      if (await store.isCancelRequested(item.batchId)) {
        await store.releaseBudget(item.batchId, worstUsd);
        return this.cancelRunning(job, on, spend);
      }
    }
    return { reservedUsd: worstUsd };
  }

  /**
   * This call was let through a half-open circuit: the provider's one-token probe goes first, and its
   * answer closes the circuit (other items flow again after one round trip) or opens it again (this item
   * is rerouted, having lost only the probe timeout). A provider without probe() is probed by the item.
   */
  private async probeCircuit(on: ProcessorTarget): Promise<boolean> {
    const { circuits } = this.deps;
    const name = on.provider.name;
    if (!on.provider.probe) return true;
    try {
      await on.provider.probe();
    } catch (err) {
      // Not the provider's answer: this worker is closing, or the audit could not record the probe (so it was
      // not sent). The job goes back to the queue; the circuit's next probe comes after CIRCUIT_OPEN_MS.
      if (err instanceof ProviderError && (err.code === 'aborted' || err.code === 'audit_unavailable')) throw err;
      const circuit = await circuits.recordFailure(name);
      this.log.warn({ msg: 'circuit probe failed', provider: name, state: circuit.state, error: err instanceof Error ? err.message : String(err) });
      return false;
    }
    await circuits.recordSuccess(name);
    this.log.log({ msg: 'circuit probe answered: circuit closed', provider: name });
    return true;
  }

  /** This job's item was moved to another provider; make sure a job waits there (crash-safe reroutes). */
  private async followRoute(item: WorkItem): Promise<ItemOutcome> {
    const view = await this.deps.store.item(item.batchId, item.index);
    if (view?.status === 'queued' && view.route) {
      await this.deps.rerouter.enqueueCurrent(item, view.route.target, view.route.provider, view.routeHistory.length);
    }
    return { outcome: 'skipped' };
  }

  /** Aborts the running completion once the batch is cancelled (DELETE /v1/batches/:id). */
  private watchCancel(batchId: string): { signal: AbortSignal; stop: () => void } {
    const controller = new AbortController();
    const timer = setInterval(() => {
      this.deps.store
        .isCancelRequested(batchId)
        .then((yes) => yes && controller.abort(new Error('batch cancelled')))
        .catch(() => undefined); // Redis blip: the next poll tries again
    }, CANCEL_POLL_MS);
    return { signal: controller.signal, stop: () => clearInterval(timer) };
  }

  private async fail(job: JobContext<JobName.RunItem>, on: ProcessorTarget, err: unknown, spend: ItemSpend): Promise<ItemOutcome> {
    const { store, rerouter } = this.deps;
    const item = job.data;
    const retryable = err instanceof ProviderError ? err.retryable : true;
    const message = err instanceof Error ? err.message : String(err);
    const final = !retryable || job.isLastAttempt;
    // What a cloud provider will not finish goes to the next cleared provider, else a local model (cleared for all).
    // A refusal (400, context exceeded, 413, 422) rules the provider out for this item: it is never sent there
    // again, so it cannot go back and forth between a refusing provider and one whose answers fail.
    const refused = isRefusal(err);
    const leaving = final && on.target === 'cloud' && !(err instanceof ProviderError && err.code === 'aborted');
    if (leaving) {
      const why = refused ? `${on.provider.name} refused it: ${message}` : `${on.provider.name} failed: ${message}`;
      const moved = await rerouter.reroute(item, { target: on.target, provider: on.provider.name }, why, ['running'], {
        spent: spentOf(spend, on),
        left: { ruleOut: refused },
      });
      if (moved) {
        this.log.warn({ msg: 'item rerouted', batchId: item.batchId, index: item.index, from: on.provider.name, to: moved.provider, attempt: job.attempt, error: message });
        return { outcome: 'rerouted' };
      }
    }
    this.log.warn({ msg: final ? 'item failed' : 'item attempt failed, will retry', batchId: item.batchId, index: item.index, target: on.target, provider: on.provider.name, attempt: job.attempt, error: message });
    if (final) {
      const { usage } = spend.tally;
      const error = leaving ? `${message}; ${await rerouter.deadEnd(item)}` : message;
      await store.transition(item.batchId, item.index, ['running'], 'failed', { error, ...usage, costUsd: costOf(usage, on.price) });
      throw retryable ? err : new PermanentJobError(message);
    }
    // The retry starts its tally over: what this attempt's calls used stays with the item.
    await store.transition(item.batchId, item.index, ['running'], 'queued', { error: `attempt ${job.attempt} failed: ${message}`, carry: spentOf(spend, on) });
    throw err;
  }
}

/** What rejects an item's answers, named without quoting them (for logs and audited route reasons). */
function checkOf(item: WorkItem, task: DocumentTask | CodeMigrationTask): string {
  if (item.kind === 'code-migration') return 'the code check (parse, cut-off, empty)';
  return (task as DocumentTask).type === 'summarize' ? 'the empty-answer check' : 'the JSON Schema check';
}

/** What a long item's calls so far used on this provider, when it leaves it midway (none before its first call). */
function spentOf(spend: ItemSpend, on: ProcessorTarget): ItemSpent | undefined {
  const { usage, calls } = spend.tally;
  return calls > 0 ? { ...usage, costUsd: costOf(usage, on.price) } : undefined;
}
