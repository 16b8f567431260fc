import { Logger } from '@nestjs/common';
import type { Prompt } from '#libs/jobs';
import type { CompletionResult } from '#libs/providers';
import { costOf } from '#libs/routing';
import { CloudProvider, ProviderError, isRefusal, linkSignals } from '#libs/providers';
import { recordModelAnswer, recordModelCallEnded, traceModelCall, type Span } from '#libs/telemetry';
import { metrics } from '#libs/metrics';
import { replayedAnswer } from './answered-calls.js';
import type { BudgetHold } from './budget-hold.js';
import { CancelWatches } from './cancel-watch.js';
import type { CloudGate } from './cloud-gate.js';
import type { ItemEndings } from './item-endings.js';
import type { ItemOutcome } from './item-outcome.js';
import { itemLogFields } from './item-log-fields.js';
import type { ItemStore } from './item-store.js';
import type { ProviderFeedback } from './provider-feedback.js';
import type { RunningItem } from './running-item.js';

export interface ItemCallsDeps {
  store: Pick<ItemStore, 'isCancelRequested' | 'markUsageEstimated'>;
  gate: CloudGate;
  feedback: ProviderFeedback;
  endings: ItemEndings;
  /** How often a batch with calls running checks for its cancel (CANCEL_POLL_MS unless told). */
  cancelPollMs?: number;
}

/** One call's result: an answer, or the item's run ended on it (recorded already). */
export type CallResult = { kind: 'answered'; completion: CompletionResult } | { kind: 'ended'; outcome: ItemOutcome };

/**
 * One completion, with everything around it: for a cloud provider the gate first (circuit, budget, quota);
 * cancellation while it runs; what it teaches about the provider; its failure classified for retries and
 * reroutes. Every call of an item — one, or dozens for a long document — passes here.
 */
export class ItemCalls {
  private readonly log = new Logger('item');
  private readonly cancels: CancelWatches;
  /** Providers whose missing usage was logged already. */
  private readonly warnedUsage = new Set<string>();

  constructor(private readonly deps: ItemCallsDeps) {
    this.cancels = new CancelWatches(deps.store, deps.cancelPollMs);
  }

  async call(run: RunningItem, prompt: Prompt, jsonSchema: Record<string, unknown> | undefined): Promise<CallResult> {
    const { store, gate, endings } = this.deps;
    const { job, on } = run;
    const item = job.data;
    // Between the calls of a long item: a cancel that came in since the last one stops it before the next is sent.
    if (run.tally.calls > 0 && (await store.isCancelRequested(item.batchId)))
      return ended(await endings.cancelled(run));
    if (run.preempt?.aborted) return ended(await endings.preempted(run));
    // Answered in a run of this item that its pool preempted: nothing is sent (nor gated, nor charged again).
    const replayed = replayedAnswer(item.answered, prompt, jsonSchema);
    if (replayed) {
      run.answers.push({ prompt, jsonSchema, completion: replayed });
      return { kind: 'answered', completion: replayed };
    }
    let hold: BudgetHold | undefined;
    if (on.target === 'cloud') {
      const admission = await gate.admit(run, prompt, jsonSchema);
      switch (admission.kind) {
        case 'refused':
          return ended(await endings.refused(run, admission.why, admission.localOnly));
        case 'rate-limited':
          return ended(await endings.rateLimited(run, admission.waitMs));
        case 'cancelled':
          return ended(await endings.cancelled(run));
        case 'admitted':
          hold = admission.hold;
      }
    }
    return traceModelCall(
      {
        batchId: item.batchId,
        index: item.index,
        requestId: item.requestId,
        target: on.target,
        provider: on.provider.name,
        jobAttempt: job.attempt,
        system: on.target === 'cloud' ? 'openai' : 'llama.cpp',
        // A local provider is named for its model; a cloud one names the model it asks for.
        model: on.provider instanceof CloudProvider ? on.provider.model : on.provider.name,
        call: run.tally.calls + 1,
        maxTokens: prompt.maxTokens,
      },
      (span) => this.send(run, prompt, jsonSchema, hold, span),
    );
  }

  /**
   * The provider did not report the call's usage (or part of it): counted at its bound, which the metric counts and
   * a warning says once per provider in this process (a server that never reports usage would fill the logs).
   */
  private async usageEstimated(run: RunningItem, completion: CompletionResult): Promise<void> {
    const { on } = run;
    const { batchId, index } = run.job.data;
    metrics.usageEstimated({ target: on.target, provider: on.provider.name });
    await this.deps.store.markUsageEstimated(batchId, index);
    if (this.warnedUsage.has(on.provider.name)) return;
    this.warnedUsage.add(on.provider.name);
    this.log.warn({
      msg: 'provider reported no usage for a call: its tokens are counted at their bound (said once per provider)',
      ...itemLogFields(run.job.data),
      provider: on.provider.name,
      inputTokens: completion.usage.inputTokens,
      outputTokens: completion.usage.outputTokens,
    });
  }

  /** The call itself, in its span: the answer's usage and cost, or how it ended and the error's kind. */
  private async send(
    run: RunningItem,
    prompt: Prompt,
    jsonSchema: Record<string, unknown> | undefined,
    hold: BudgetHold | undefined,
    span: Span,
  ): Promise<CallResult> {
    const { feedback, endings } = this.deps;
    const { job, on } = run;
    const item = job.data;
    const cancel = this.cancels.watch(item.batchId);
    // The batch's cancel signal lives as long as its calls here: a listener on it, let go when the call ends
    // (AbortSignal.any leaves each call's signal registered on it until garbage collection, at 15 µs a call).
    const stops = run.preempt ? linkSignals(run.preempt, cancel.signal) : undefined;
    const sentAt = Date.now();
    try {
      const completion = await on.provider.complete({
        itemRef: job.id,
        sensitivity: item.sensitivity,
        system: prompt.system,
        prompt: prompt.prompt,
        maxTokens: prompt.maxTokens,
        signal: stops?.signal ?? cancel.signal,
        jsonSchema,
        chat: prompt.chat,
      });
      const where = { target: on.target, provider: on.provider.name };
      const cost = costOf(completion.usage, on.price);
      recordModelAnswer(span, {
        ...completion.usage,
        costUsd: cost,
        responseModel: completion.model,
        finishReason: completion.finishReason,
      });
      metrics.callAnswered(where, completion.usage, cost);
      if (completion.usageEstimated) await this.usageEstimated(run, completion);
      // Learned while the item goes on (its answer recorded first): settled before the job ends.
      if (on.target === 'cloud') run.feedback.add(feedback.cloudCallAnswered(run, completion, sentAt));
      // The call's actual cost stays reserved, held by the item until it records it; the rest of the worst case goes back.
      hold?.moveTo(run.held, cost);
      run.answers.push({ prompt, jsonSchema, completion });
      return { kind: 'answered', completion };
    } catch (err) {
      if (cancel.signal.aborted) {
        recordModelCallEnded(span, 'cancelled');
        return ended(await endings.cancelled(run));
      }
      if (run.preempt?.aborted) {
        recordModelCallEnded(span, 'preempted');
        return ended(await endings.preempted(run));
      }
      const code = err instanceof ProviderError ? err.code : 'unknown';
      recordModelCallEnded(span, isRefusal(err) ? 'refused' : 'failed', err);
      metrics.callFailed({ target: on.target, provider: on.provider.name }, code, isRefusal(err));
      if (on.target === 'cloud') await feedback.cloudCallFailed(run, err, jsonSchema);
      return ended(await endings.callFailed(run, err));
    } finally {
      stops?.detach();
      cancel.stop();
      await hold?.release();
    }
  }
}

function ended(outcome: ItemOutcome): CallResult {
  return { kind: 'ended', outcome };
}
