import { Logger } from '@nestjs/common';
import type { BatchStore } from '#libs/batches/src/batch-store.js';
import type { WorkItem } from '#libs/batches/src/batch-types.js';
import { promptFor } from '#libs/jobs/src/item-prompt.js';
import { answerSchema, checkItemOutput, type OutputCheck } from '#libs/jobs/src/item-output.js';
import { MAX_VALIDATION_RETRIES } from '#libs/jobs/src/code-migration/retry-prompt.js';
import type { Prompt } from '#libs/jobs/src/prompt.js';
import type { CircuitRegistry } from '#libs/pools/src/circuit-registry.js';
import type { PoolRegistry } from '#libs/pools/src/pool-registry.js';
import type { TokenRateLimiter } from '#libs/pools/src/token-rate-limiter.js';
import { ProviderError, type CompletionResult, type InferenceProvider, type TokenUsage } from '#libs/providers/src/completion.js';
import { PermanentJobError, RateLimited, type JobContext, type JobName } from '#libs/queue/src/index.js';
import { costOf, type Price } from '#libs/routing/src/cost.js';
import type { RouteTarget } from '#libs/routing/src/routing-policy.js';
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
}

export interface ItemProcessorDeps {
  store: BatchStore;
  pools: PoolRegistry;
  circuits: CircuitRegistry;
  tokens: TokenRateLimiter;
  rerouter: ItemRerouter;
  maxOutputTokens: number;
}

export type ItemOutcome = { outcome: 'completed' | 'skipped' | 'rerouted' | 'cancelled' };

/** How often a running item checks whether its batch was cancelled. */
const CANCEL_POLL_MS = 250;

/** Failures that say the provider is unwell (not that the item is bad, nor that we sent too much). */
const CIRCUIT_FAILURES = new Set(['server_error', 'timeout', 'connection', 'bad_response']);

/**
 * Runs one item on one provider and records the outcome. Every status change goes through the store's
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
    const started = await store.transitionOn(item.batchId, item.index, on.provider.name, ['queued', 'running'], 'running');
    if (started === 'elsewhere') return this.followRoute(item);
    if (started !== 'applied') return { outcome: 'skipped' }; // cancelled, or finished by an earlier run of this job
    const task = await store.task(item.batchId);
    if (!task) throw new PermanentJobError(`batch ${item.batchId} has no record`);
    const jsonSchema = answerSchema(item, task);

    // Ask, check the answer, ask again with the checker's reason: up to MAX_VALIDATION_RETRIES more times.
    let prompt = promptFor(item, task, this.deps.maxOutputTokens);
    const usage = { inputTokens: 0, outputTokens: 0 };
    const t0 = Date.now();
    let check: OutputCheck | undefined;
    let model = on.provider.name;
    for (let round = 0; round <= MAX_VALIDATION_RETRIES; round++) {
      const call = await this.callOnce(job, on, prompt, jsonSchema);
      if ('outcome' in call) return call;
      usage.inputTokens += call.usage.inputTokens;
      usage.outputTokens += call.usage.outputTokens;
      model = call.model;
      check = checkItemOutput(item, task, call.text, call.finishReason, this.deps.maxOutputTokens);
      if (check.ok) break;
      this.log.warn({ msg: 'answer rejected by its check', batchId: item.batchId, index: item.index, provider: on.provider.name, round, reason: check.message });
      prompt = check.retry;
    }
    const costUsd = costOf(usage, on.price);
    if (!check!.ok) return this.rejectOutput(job, on, check!.message, usage, costUsd);

    const elapsedMs = Date.now() - t0;
    const recorded = await store.transition(item.batchId, item.index, ['running'], 'completed', {
      result: check!.result,
      diff: check!.diff ?? undefined,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      costUsd,
    });
    const tps = workTokensPerSecond(usage, elapsedMs, on.latencyMs ?? 0);
    if (recorded && tps !== null) await this.deps.pools.recordThroughput(on.target, on.provider.name, tps);
    this.log.log({
      msg: recorded ? 'item completed' : 'item result discarded (already finished)',
      batchId: item.batchId,
      index: item.index,
      target: on.target,
      provider: on.provider.name,
      model,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      costUsd,
      ms: elapsedMs,
    });
    return { outcome: recorded ? 'completed' : 'skipped' };
  }

  /**
   * One completion, with everything around it: for a cloud provider its circuit, the batch budget and the
   * token quota first; cancellation while it runs; failures classified for the circuit and for retries.
   */
  private async callOnce(job: JobContext<JobName.RunItem>, on: ProcessorTarget, prompt: Prompt, jsonSchema: Record<string, unknown> | undefined): Promise<ItemOutcome | CompletionResult> {
    const { store } = this.deps;
    const item = job.data;
    let reservedUsd = 0;
    if (on.target === 'cloud') {
      const gate = await this.admitToCloud(job, on, prompt);
      if ('outcome' in gate) return gate;
      reservedUsd = gate.reservedUsd;
    }
    const cancel = this.watchCancel(item.batchId);
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
      if (on.target === 'cloud') await this.deps.circuits.recordSuccess(on.provider.name);
      return completion;
    } catch (err) {
      if (cancel.signal.aborted) {
        await store.transition(item.batchId, item.index, ['running'], 'cancelled', { error: 'cancelled while running' });
        this.log.log({ msg: 'item cancelled while running', batchId: item.batchId, index: item.index, provider: on.provider.name });
        return { outcome: 'cancelled' };
      }
      if (on.target === 'cloud' && err instanceof ProviderError && CIRCUIT_FAILURES.has(err.code)) {
        const circuit = await this.deps.circuits.recordFailure(on.provider.name);
        if (circuit.state === 'open') this.log.warn({ msg: 'circuit open', provider: on.provider.name, failures: circuit.failures });
      }
      return this.fail(job, on, err);
    } finally {
      cancel.stop();
      if (reservedUsd > 0) await store.releaseBudget(item.batchId, reservedUsd);
    }
  }

  /**
   * Every check failed. A local answer escalates to a cleared cloud provider if one can take the item
   * (deadline and sensitivity allow); otherwise the item fails with the checker's message.
   */
  private async rejectOutput(job: JobContext<JobName.RunItem>, on: ProcessorTarget, message: string, usage: TokenUsage, costUsd: number): Promise<ItemOutcome> {
    const item = job.data;
    const why = `answer rejected ${MAX_VALIDATION_RETRIES + 1} times (${message})`;
    if (on.target === 'local') {
      const from = { target: on.target, provider: on.provider.name };
      const decision = await this.deps.rerouter.propose(item, from, { cloudOnly: true });
      if (decision && !decision.atRisk && (await this.deps.rerouter.apply(item, from, decision, why, ['running']))) {
        this.log.warn({ msg: 'item escalated after invalid answers', batchId: item.batchId, index: item.index, from: on.provider.name, to: decision.provider });
        return { outcome: 'rerouted' };
      }
    }
    await this.deps.store.transition(item.batchId, item.index, ['running'], 'failed', { error: why, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, costUsd });
    this.log.warn({ msg: 'item failed its output check', batchId: item.batchId, index: item.index, provider: on.provider.name, reason: message });
    throw new PermanentJobError(why);
  }

  /**
   * Before anything leaves for a cloud provider: its circuit must admit the call, the batch's budget must
   * cover the worst case (input plus maxTokens), and the provider's token quota must have room.
   */
  private async admitToCloud(job: JobContext<JobName.RunItem>, on: ProcessorTarget, prompt: Prompt): Promise<ItemOutcome | { reservedUsd: number }> {
    const { store, circuits, tokens, rerouter } = this.deps;
    const item = job.data;
    const from = { target: on.target, provider: on.provider.name };
    if (!(await circuits.admit(on.provider.name))) {
      const moved = await rerouter.reroute(item, from, `circuit open for ${on.provider.name}`);
      return { outcome: moved ? 'rerouted' : 'skipped' };
    }
    const inputTokens = estimateTokens(prompt.system) + estimateTokens(prompt.prompt);
    const worstUsd = costOf({ inputTokens, outputTokens: prompt.maxTokens }, on.price);
    if (!(await store.reserveBudget(item.batchId, worstUsd))) {
      const moved = await rerouter.reroute(item, from, 'batch budget reached', ['running'], { localOnly: true });
      return { outcome: moved ? 'rerouted' : 'skipped' };
    }
    if (on.tokensPerMinute) {
      const waitMs = await tokens.take(on.provider.name, inputTokens + prompt.maxTokens, on.tokensPerMinute);
      if (waitMs > 0) {
        await store.releaseBudget(item.batchId, worstUsd);
        await store.transition(item.batchId, item.index, ['running'], 'queued');
        throw new RateLimited(waitMs);
      }
    }
    return { reservedUsd: worstUsd };
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

  private async fail(job: JobContext<JobName.RunItem>, on: ProcessorTarget, err: unknown): Promise<ItemOutcome> {
    const { store, rerouter } = this.deps;
    const item = job.data;
    const retryable = err instanceof ProviderError ? err.retryable : true;
    const message = err instanceof Error ? err.message : String(err);
    const final = !retryable || job.isLastAttempt;
    // What a cloud provider will not finish goes to the next cleared provider, else a local model (cleared for all).
    if (final && on.target === 'cloud' && !(err instanceof ProviderError && err.code === 'aborted')) {
      const moved = await rerouter.reroute(item, { target: on.target, provider: on.provider.name }, `${on.provider.name} failed: ${message}`);
      if (moved) {
        this.log.warn({ msg: 'item rerouted', batchId: item.batchId, index: item.index, from: on.provider.name, to: moved.provider, attempt: job.attempt, error: message });
        return { outcome: 'rerouted' };
      }
    }
    this.log.warn({ msg: final ? 'item failed' : 'item attempt failed, will retry', batchId: item.batchId, index: item.index, target: on.target, provider: on.provider.name, attempt: job.attempt, error: message });
    if (final) {
      await store.transition(item.batchId, item.index, ['running'], 'failed', { error: message });
      throw retryable ? err : new PermanentJobError(message);
    }
    await store.transition(item.batchId, item.index, ['running'], 'queued', { error: `attempt ${job.attempt} failed: ${message}` });
    throw err;
  }
}
