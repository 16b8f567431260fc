import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { promptInputBound, type Prompt } from '#libs/jobs';
import type { CircuitRegistry } from '#libs/pools';
import type { TokenRateLimiter } from '#libs/pools';
import { ProviderError } from '#libs/providers';
import { costOf } from '#libs/routing';
import { estimateTokens } from '#libs/routing';
import { metrics } from '#libs/metrics';
import { BudgetHold } from './budget-hold.js';
import type { ItemStore } from './item-store.js';
import type { ProcessorTarget } from './processor-target.js';
import type { RunningItem } from './running-item.js';

export interface CloudGateDeps {
  store: Pick<ItemStore, 'reserveBudget' | 'releaseBudget' | 'isCancelRequested'>;
  circuits: Pick<CircuitRegistry, 'admit' | 'recordSuccess' | 'recordFailure'>;
  tokens: Pick<TokenRateLimiter, 'take'>;
}

/** Whether a cloud call may leave, and if not, why. An admitted call holds its worst case in the batch's budget. */
export type Admission =
  | { kind: 'admitted'; hold: BudgetHold }
  /** The circuit is open, its probe failed, or the budget cannot cover the call: the item should move (`localOnly`: to a local model). */
  | { kind: 'refused'; why: string; localOnly?: boolean }
  /** The token quota is used up before the item's first call: it waits in the queue, its slot freed. */
  | { kind: 'rate-limited'; waitMs: number }
  /** The batch was cancelled while a later call waited for the quota. */
  | { kind: 'cancelled' };

/**
 * Before anything leaves for a cloud provider: its circuit must admit the call, the batch's budget must
 * cover the worst case (input at its bound plus maxTokens), and the provider's token quota must have room. An item's
 * first call waits for the quota in the queue (its slot freed); a later call of a long item waits here,
 * since going back to the queue would redo the calls already made.
 */
export class CloudGate {
  private readonly log = new Logger('item');

  constructor(private readonly deps: CloudGateDeps) {}

  async admit(run: RunningItem, prompt: Prompt, jsonSchema?: Record<string, unknown>): Promise<Admission> {
    const { store, circuits, tokens } = this.deps;
    const { on } = run;
    const { batchId } = run.job.data;
    const inputTokens = estimateTokens(prompt.system) + estimateTokens(prompt.prompt);
    // The circuit and the budget are asked at once (one round trip, not two: issue 17); a reservation the
    // circuit then refuses goes back in the finally below. A probe the circuit granted is made even when the
    // budget refuses, so the half-open circuit is never left waiting on a probe nobody sends.
    // The budget holds what the call can cost at most (its input by promptInputBound, not the estimate): whatever
    // the provider's tokenizer counts, the call cannot take the batch past maxCostUsd.
    const worstCase = { inputTokens: promptInputBound(prompt, jsonSchema), outputTokens: prompt.maxTokens };
    const holding = BudgetHold.take(store, batchId, costOf(worstCase, on.price));
    let admission: Awaited<ReturnType<typeof circuits.admit>>;
    try {
      admission = await circuits.admit(on.provider.name);
    } catch (err) {
      // Like a refusal: what was reserved goes back (a refused or failed reservation holds nothing).
      await (await holding.catch(() => null))?.release();
      throw err;
    }
    // A granted probe whose reservation failed is not sent: the circuit grants the next after CIRCUIT_OPEN_MS.
    const hold = await holding;
    let admitted = false;
    try {
      if (admission === 'refused') return { kind: 'refused', why: `circuit open for ${on.provider.name}` };
      if (admission === 'probe' && !(await this.probeCircuit(on)))
        return { kind: 'refused', why: `circuit probe of ${on.provider.name} failed` };
      if (!hold) {
        metrics.budgetRefused(on.provider.name);
        return { kind: 'refused', why: 'batch budget reached', localOnly: true };
      }
      for (let waitMs = 1; on.tokensPerMinute && waitMs > 0;) {
        waitMs = await tokens.take(on.provider.name, inputTokens + prompt.maxTokens, on.tokensPerMinute);
        if (waitMs === 0) break;
        metrics.quotaWaited(on.provider.name, waitMs);
        if (run.tally.calls === 0) return { kind: 'rate-limited', waitMs };
        await sleep(waitMs);
        if (await store.isCancelRequested(batchId)) return { kind: 'cancelled' };
      }
      admitted = true;
      return { kind: 'admitted', hold };
    } finally {
      // Not admitted (or the probe or the quota check threw): the reservation goes back before the caller records why.
      if (!admitted) await hold?.release();
    }
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
      this.log.warn({
        msg: 'circuit probe failed',
        provider: name,
        state: circuit.state,
        error: err instanceof Error ? err.message : String(err),
      });
      return false;
    }
    await circuits.recordSuccess(name);
    this.log.log({ msg: 'circuit probe answered: circuit closed', provider: name });
    return true;
  }
}
