import { Logger } from '@nestjs/common';
import type { BatchTask } from '#libs/domain';
import { routableItem, taskKind } from '#libs/batches';
import type { CircuitRegistry } from '#libs/pools';
import type { PoolRegistry } from '#libs/pools';
import type { ProviderCapabilities } from '#libs/pools';
import {
  ProviderError,
  isAccountRefusal,
  isLongRateLimit,
  isRefusal,
  type CompletionResult,
  type TokenUsage,
} from '#libs/providers';
import { workTokens } from '#libs/routing';
import { workTokensPerSecond } from '#libs/routing';
import type { RunningItem } from './running-item.js';

export interface ProviderFeedbackDeps {
  pools: Pick<PoolRegistry, 'recordThroughput' | 'recordTokenRatios' | 'recordCallTiming'>;
  circuits: Pick<CircuitRegistry, 'recordSuccess' | 'recordFailure' | 'trip'>;
  /** Where a provider's refusals of structured requests are learned from (optional: tests without it learn nothing). */
  capabilities?: Pick<ProviderCapabilities, 'recordRefusal'>;
  maxOutputTokens: number;
}

/** Failures that say the provider is unwell (not that the item is bad, nor that we sent too much). */
const CIRCUIT_FAILURES = new Set(['server_error', 'timeout', 'connection', 'bad_response']);

/**
 * What the worker learns from each call and each finished item, for the next routing decisions: a cloud
 * provider's health (its circuit), its latency and speed, what it refuses, and how many tokens items
 * really take against what routing assumed.
 */
export class ProviderFeedback {
  private readonly log = new Logger('item');

  constructor(private readonly deps: ProviderFeedbackDeps) {}

  /** A cloud call answered: its circuit hears success; its duration against its size measures the provider (LatencyFit). */
  async cloudCallAnswered(run: RunningItem, completion: CompletionResult, sentAt: number): Promise<void> {
    const name = run.on.provider.name;
    // The answering attempt's own time: a call that waited out a 429 says nothing about speed.
    const { inputTokens, outputTokens } = completion.usage;
    const ms = completion.attemptMs ?? Date.now() - sentAt;
    await Promise.all([
      this.deps.circuits.recordSuccess(name),
      // Tokens at their bound (usage not reported) would teach the latency fit a speed the provider does not have.
      !completion.usageEstimated &&
        this.deps.pools.recordCallTiming(name, workTokens({ inputTokens, expectedOutputTokens: outputTokens }), ms),
    ]);
  }

  /** A cloud call failed: an unwell provider counts toward its circuit; a refused structured request toward learning it cannot. */
  async cloudCallFailed(
    run: RunningItem,
    err: unknown,
    jsonSchema: Record<string, unknown> | undefined,
  ): Promise<void> {
    const name = run.on.provider.name;
    if (err instanceof ProviderError && err.code === 'tier_unavailable') {
      // A tier out of capacity (flex's 429 "resource unavailable"): that route's circuit opens, so routing
      // weighs the provider's other tiers and local until its probe finds capacity again. The provider's own
      // (standard) circuit is another route's and hears nothing of it (issue 16 §3).
      const circuit = await this.deps.circuits.trip(name);
      this.log.warn({ msg: 'tier unavailable: circuit open', provider: name, failures: circuit.failures });
    } else if (isAccountRefusal(err)) {
      // Its key or its account refused: every item sent there would fail the same way, each after its call.
      await this.deps.circuits.trip(name);
      this.log.warn({ msg: 'provider refuses our key or account: circuit open', provider: name, code: err.code });
    } else if (isLongRateLimit(err)) {
      // A quota spent for longer than a call waits (a daily limit): every item sent there would be refused again,
      // each through its retries and job attempts, so the route closes until its probe is answered again.
      const circuit = await this.deps.circuits.trip(name);
      this.log.warn({
        msg: 'rate limited for longer than a call waits: circuit open',
        provider: name,
        retryAfterMs: err.retryAfterMs,
        failures: circuit.failures,
      });
    } else if (err instanceof ProviderError && CIRCUIT_FAILURES.has(err.code)) {
      const circuit = await this.deps.circuits.recordFailure(name);
      if (circuit.state === 'open') this.log.warn({ msg: 'circuit open', provider: name, failures: circuit.failures });
    }
    if (jsonSchema && isRefusal(err) && err.code === 'bad_request') await this.learnRefusal(run);
  }

  /**
   * An item completed: its speed (work over time, fixed latency per call taken out), and what it really
   * used (input as the tokenizer or API counted it, output as written) against what routing assumed
   * before any correction: the next estimates learn from both.
   */
  async itemCompleted(run: RunningItem, task: BatchTask, usage: TokenUsage, elapsedMs: number): Promise<void> {
    const { on, tally } = run;
    // Usage at its bound (a provider that reported none) is no measure: up to four times an English text's tokens,
    // it would teach routing to expect that of every item of the kind, on every provider.
    if (tally.usageEstimated) return;
    const tps = workTokensPerSecond(usage, elapsedMs, (on.latencyMs ?? 0) * tally.calls);
    const estimated = routableItem(run.job.data, task, this.deps.maxOutputTokens);
    await Promise.all([
      tps !== null && this.deps.pools.recordThroughput(on.target, on.provider.name, tps, on.tokensPerSec),
      this.deps.pools.recordTokenRatios(taskKind(task), usage, {
        inputTokens: estimated.inputTokens,
        outputTokens: estimated.expectedOutputTokens,
      }),
    ]);
  }

  /**
   * A structured request refused as invalid (no context overflow, no rate limit): one refusal may be the
   * item's fault, several on different items say the provider cannot do it (llama.cpp's server refuses every
   * `response_format` when its model has no usable chat template). Learned, items needing it go elsewhere.
   */
  private async learnRefusal(run: RunningItem): Promise<void> {
    const { batchId, index } = run.job.data;
    const learned = await this.deps.capabilities?.recordRefusal(
      run.on.provider.name,
      'structured-output',
      `${batchId}:${index}`,
    );
    if (learned?.learnedNow) {
      const { lack } = learned;
      this.log.warn({
        msg: 'provider refuses structured output: routing such items elsewhere',
        provider: run.on.provider.name,
        until: new Date(lack.expiresAt).toISOString(),
        refusals: lack.refusals,
      });
    }
  }
}
