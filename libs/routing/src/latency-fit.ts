/**
 * A cloud provider's per-call latency and generation speed, measured: every call's duration against its
 * work (generation-equivalent tokens, workTokens) is one point, and a least-squares line through decayed
 * sums of them gives the latency (intercept) and the ms per token (slope). One number cannot tell the
 * two apart; calls of different sizes can. Until enough calls of different sizes came back, the
 * configured latency and speed stand.
 *
 * A slope is believed only where the calls show it: it must stand clear of the durations' noise (its t
 * statistic at least FIT_MIN_T), and the line must not need a negative latency (the line through the origin is
 * then the least-squares fit of the model). Calls of nearly one size whose durations vary with load (a burst of
 * like items on a busy worker) otherwise gave any slope at all: 3 to 156 tokens/s were read off a double that
 * answers at once, and 3 tokens/s made a 30-minute deadline look out of the cloud's reach (issue 17 §1).
 */
export interface FitSums {
  /** Decayed count (weight), and sums of x = work tokens, y = ms, x², x·y, y². */
  w: number;
  x: number;
  y: number;
  xx: number;
  xy: number;
  /** Absent from sums folded before it was kept: such a fit cannot test its slope, and believes none. */
  yy?: number;
  samples: number;
}

/** Each call keeps 98% of what came before: a provider that slows down shows within ~50 calls. */
export const FIT_DECAY = 0.98;
export const FIT_MIN_SAMPLES = 8;
/** How many standard errors above zero a slope must be to be believed (about 1 in 700 by chance for normal noise). */
export const FIT_MIN_T = 3;

/** The increments one call adds (what FIT_DECAY multiplies everything before by). */
export function fitPoint(workTokens: number, ms: number): Required<Omit<FitSums, 'samples'>> {
  return { w: 1, x: workTokens, y: ms, xx: workTokens * workTokens, xy: workTokens * ms, yy: ms * ms };
}

export function foldFit(previous: FitSums | undefined, workTokens: number, ms: number, decay = FIT_DECAY): FitSums {
  const p = previous ?? { w: 0, x: 0, y: 0, xx: 0, xy: 0, yy: 0, samples: 0 };
  const d = fitPoint(workTokens, ms);
  return {
    w: p.w * decay + d.w,
    x: p.x * decay + d.x,
    y: p.y * decay + d.y,
    xx: p.xx * decay + d.xx,
    xy: p.xy * decay + d.xy,
    yy: (p.yy ?? 0) * decay + d.yy,
    samples: p.samples + 1,
  };
}

export interface LatencyFit {
  latencyMs: number;
  /** Null when the calls' durations do not grow with their size (all latency, or too little spread to say). */
  tokensPerSec: number | null;
  samples: number;
}

export function fitLatency(s: FitSums | undefined, minSamples = FIT_MIN_SAMPLES, decay = FIT_DECAY): LatencyFit | null {
  if (!s || s.samples < minSamples || s.w <= 0) return null;
  const meanY = s.y / s.w;
  const spread = s.w * s.xx - s.x * s.x;
  // Calls all of one size: their mean duration is all that is known, and it is latency plus generation.
  if (spread <= 1e-9 * s.w * s.xx) return null;
  const latencyOnly = { latencyMs: Math.max(0, meanY), tokensPerSec: null, samples: s.samples };
  const slope = (s.w * s.xy - s.x * s.y) / spread;
  if (slope <= 0 || !slopeShows(s, slope, spread, decay)) return latencyOnly;
  const intercept = (s.y - slope * s.x) / s.w;
  if (intercept >= 0) return { latencyMs: Math.min(meanY, intercept), tokensPerSec: 1000 / slope, samples: s.samples };
  // The best line with a latency of at least zero goes through the origin: all of each duration is generation.
  const throughOrigin = s.xy / s.xx;
  return throughOrigin > 0 ? { latencyMs: 0, tokensPerSec: 1000 / throughOrigin, samples: s.samples } : latencyOnly;
}

/**
 * Whether the slope stands clear of the scatter around the line: slope / standard error ≥ FIT_MIN_T. The decayed
 * sums weigh each call by decayᵃᵍᵉ; their effective count is at most (1 + d)/(1 − d) (99 calls at 0.98), fewer
 * while fewer calls came. Sums folded before y² was kept, or whose y² predates the rest (a negative residual),
 * cannot say: no slope.
 */
function slopeShows(s: FitSums, slope: number, spread: number, decay: number): boolean {
  if (s.yy === undefined) return false;
  const sxx = spread / s.w;
  const sxy = s.xy - (s.x * s.y) / s.w;
  const syy = s.yy - (s.y * s.y) / s.w;
  const residual = syy - slope * sxy;
  if (residual < -1e-9 * Math.max(s.yy, 1)) return false;
  const n = Math.min(s.samples, (1 + decay) / (1 - decay));
  if (n <= 2) return false;
  // The slope's variance: the weighted residual over (n − 2) degrees of freedom, over the sizes' spread.
  const slopeVariance = Math.max(0, residual) / ((n - 2) * sxx);
  return slopeVariance === 0 || slope / Math.sqrt(slopeVariance) >= FIT_MIN_T;
}
