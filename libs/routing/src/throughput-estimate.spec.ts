import { describe, expect, it } from '@jest/globals';
import { tokensPerSecond, workTokensPerSecond } from './throughput-estimate.js';

describe('throughput samples', () => {
  it('measures work tokens per second of generation: prefill counted, the fixed latency taken out', () => {
    // 600 prompt tokens (60 generation-equivalent) + 150 out in 700 ms latency + 7 s of generation.
    expect(workTokensPerSecond({ inputTokens: 600, outputTokens: 150 }, 7700, 700)).toBeCloseTo(30, 9);
    // The first version read the same call as 19.5 tok/s: 35% slow, so every estimate came out long.
    expect(tokensPerSecond(150, 7700)).toBeCloseTo(19.48, 2);
  });

  it('says nothing about a call that was mostly latency, or generated nothing', () => {
    expect(workTokensPerSecond({ inputTokens: 600, outputTokens: 8 }, 1300, 700)).toBeNull();
    expect(workTokensPerSecond({ inputTokens: 600, outputTokens: 0 }, 5000)).toBeNull();
  });
});
