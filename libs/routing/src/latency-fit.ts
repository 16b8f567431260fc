/**
 * A cloud provider's per-call latency and generation speed, measured: every call's duration against its
 * work (generation-equivalent tokens, workTokens) is one point, and a least-squares line through decayed
 * sums of them gives the latency (intercept) and the ms per token (slope). One number cannot tell the
 * two apart; calls of different sizes can. Until enough calls of different sizes came back, the
 * configured latency and speed stand.
 */
export interface FitSums {
  /** Decayed count (weight), and sums of x = work tokens, y = ms, x², x·y. */
  w: number;
  x: number;
  y: number;
  xx: number;
  xy: number;
  samples: number;
}

/** Each call keeps 98% of what came before: a provider that slows down shows within ~50 calls. */
export const FIT_DECAY = 0.98;
export const FIT_MIN_SAMPLES = 8;

/** The increments one call adds (what FIT_DECAY multiplies everything before by). */
export function fitPoint(workTokens: number, ms: number): Omit<FitSums, 'samples'> {
  return { w: 1, x: workTokens, y: ms, xx: workTokens * workTokens, xy: workTokens * ms };
}

export function foldFit(previous: FitSums | undefined, workTokens: number, ms: number, decay = FIT_DECAY): FitSums {
  const p = previous ?? { w: 0, x: 0, y: 0, xx: 0, xy: 0, samples: 0 };
  const d = fitPoint(workTokens, ms);
  return {
    w: p.w * decay + d.w,
    x: p.x * decay + d.x,
    y: p.y * decay + d.y,
    xx: p.xx * decay + d.xx,
    xy: p.xy * decay + d.xy,
    samples: p.samples + 1,
  };
}

export interface LatencyFit {
  latencyMs: number;
  /** Null when the calls' durations do not grow with their size (all latency, or too little spread to say). */
  tokensPerSec: number | null;
  samples: number;
}

export function fitLatency(s: FitSums | undefined, minSamples = FIT_MIN_SAMPLES): LatencyFit | null {
  if (!s || s.samples < minSamples || s.w <= 0) return null;
  const meanY = s.y / s.w;
  const spread = s.w * s.xx - s.x * s.x;
  // Calls all of one size: their mean duration is all that is known, and it is latency plus generation.
  if (spread <= 1e-9 * s.w * s.xx) return null;
  const slope = (s.w * s.xy - s.x * s.y) / spread;
  if (slope <= 0) return { latencyMs: Math.max(0, meanY), tokensPerSec: null, samples: s.samples };
  const intercept = (s.y - slope * s.x) / s.w;
  return { latencyMs: Math.min(meanY, Math.max(0, intercept)), tokensPerSec: 1000 / slope, samples: s.samples };
}
