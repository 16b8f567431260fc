import type { Price } from '#libs/routing';
import type { RouteTarget } from '#libs/routing';
import type { InferenceProvider } from '#libs/providers';

/** The provider a pool runs its items on, with what the item code needs to know of it. */
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
