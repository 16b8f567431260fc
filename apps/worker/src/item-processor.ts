import { Logger } from '@nestjs/common';
import type { BatchStore } from '#libs/batches/src/batch-store.js';
import { promptFor, resultFrom } from '#libs/jobs/src/item-prompt.js';
import type { PoolRegistry } from '#libs/pools/src/pool-registry.js';
import { ProviderError, type InferenceProvider } from '#libs/providers/src/completion.js';
import { PermanentJobError, type JobContext, type JobName } from '#libs/queue/src/index.js';
import { costOf, type Price } from '#libs/routing/src/cost.js';
import type { RouteTarget } from '#libs/routing/src/routing-policy.js';
import { tokensPerSecond } from '#libs/routing/src/throughput-estimate.js';
import type { LocalFallback } from './local-fallback.js';

export interface ProcessorTarget {
  target: RouteTarget;
  provider: InferenceProvider;
  price: Price;
}

export type ItemOutcome = { outcome: 'completed' | 'skipped' | 'rerouted' | 'cancelled' };

/** How often a running item checks whether its batch was cancelled. */
const CANCEL_POLL_MS = 250;

/**
 * Runs one item on one provider and records the outcome. Every status change goes through the store's
 * guarded transition, so a job that runs again after a crash never completes or charges an item twice.
 * Errors are rethrown (never swallowed) so BullMQ retries what may succeed and fails what cannot.
 */
export class ItemProcessor {
  private readonly log = new Logger('item');

  constructor(
    private readonly store: BatchStore,
    private readonly pools: PoolRegistry,
    private readonly maxOutputTokens: number,
    private readonly fallback?: LocalFallback,
  ) {}

  async run(job: JobContext<JobName.RunItem>, on: ProcessorTarget): Promise<ItemOutcome> {
    const item = job.data;
    const started = await this.store.transition(item.batchId, item.index, ['queued', 'running'], 'running');
    if (!started) return { outcome: 'skipped' }; // cancelled, or finished by an earlier run of this job
    const task = await this.store.task(item.batchId);
    if (!task) throw new PermanentJobError(`batch ${item.batchId} has no record`);
    const prompt = promptFor(item, task, this.maxOutputTokens);
    const t0 = Date.now();
    const cancel = this.watchCancel(item.batchId);
    let completion;
    try {
      completion = await on.provider.complete({
        itemRef: job.id,
        sensitivity: item.sensitivity,
        system: prompt.system,
        prompt: prompt.prompt,
        maxTokens: prompt.maxTokens,
        signal: cancel.signal,
      });
    } catch (err) {
      if (cancel.signal.aborted) {
        await this.store.transition(item.batchId, item.index, ['running'], 'cancelled', { error: 'cancelled while running' });
        this.log.log({ msg: 'item cancelled while running', batchId: item.batchId, index: item.index, provider: on.provider.name });
        return { outcome: 'cancelled' };
      }
      return this.fail(job, on, err);
    } finally {
      cancel.stop();
    }
    const elapsedMs = Date.now() - t0;
    const costUsd = costOf(completion.usage, on.price);
    const recorded = await this.store.transition(item.batchId, item.index, ['running'], 'completed', {
      result: resultFrom(item.kind, completion.text),
      inputTokens: completion.usage.inputTokens,
      outputTokens: completion.usage.outputTokens,
      costUsd,
    });
    const tps = tokensPerSecond(completion.usage.outputTokens, elapsedMs);
    if (recorded && tps !== null) await this.pools.recordThroughput(on.target, on.provider.name, tps);
    this.log.log({
      msg: recorded ? 'item completed' : 'item result discarded (already finished)',
      batchId: item.batchId,
      index: item.index,
      target: on.target,
      provider: on.provider.name,
      model: completion.model,
      inputTokens: completion.usage.inputTokens,
      outputTokens: completion.usage.outputTokens,
      costUsd,
      ms: elapsedMs,
    });
    return { outcome: recorded ? 'completed' : 'skipped' };
  }

  /** Aborts the running completion once the batch is cancelled (DELETE /v1/batches/:id). */
  private watchCancel(batchId: string): { signal: AbortSignal; stop: () => void } {
    const controller = new AbortController();
    const timer = setInterval(() => {
      this.store
        .isCancelRequested(batchId)
        .then((yes) => yes && controller.abort(new Error('batch cancelled')))
        .catch(() => undefined); // Redis blip: the next poll tries again
    }, CANCEL_POLL_MS);
    return { signal: controller.signal, stop: () => clearInterval(timer) };
  }

  private async fail(job: JobContext<JobName.RunItem>, on: ProcessorTarget, err: unknown): Promise<ItemOutcome> {
    const item = job.data;
    const retryable = err instanceof ProviderError ? err.retryable : true;
    const message = err instanceof Error ? err.message : String(err);
    const final = !retryable || job.isLastAttempt;
    // A cloud failure that retrying here will not fix goes to the local model, which is cleared for all data.
    if (final && on.target === 'cloud' && this.fallback && !(err instanceof ProviderError && err.code === 'aborted')) {
      if (await this.fallback.reroute(item, `${on.provider.name} failed: ${message}`)) {
        this.log.warn({ msg: 'item rerouted to local', batchId: item.batchId, index: item.index, provider: on.provider.name, attempt: job.attempt, error: message });
        return { outcome: 'rerouted' };
      }
    }
    this.log.warn({ msg: final ? 'item failed' : 'item attempt failed, will retry', batchId: item.batchId, index: item.index, target: on.target, provider: on.provider.name, attempt: job.attempt, error: message });
    if (final) {
      await this.store.transition(item.batchId, item.index, ['running'], 'failed', { error: message });
      throw retryable ? err : new PermanentJobError(message);
    }
    await this.store.transition(item.batchId, item.index, ['running'], 'queued', { error: `attempt ${job.attempt} failed: ${message}` });
    throw err;
  }
}
