import { describe, expect, it } from '@jest/globals';
import { callsOn, partRoom, type DocumentSplit, type FileSplit, type SplittableItem } from './context-calls.js';

/** A ~4,000-token document to summarize with answers of at most 64 tokens (issue 12 §4's long summary). */
const summarySplit: DocumentSplit = {
  kind: 'document',
  maxTokens: 64,
  contentTokens: 4000,
  partFrameTokens: 45,
  partMaxTokens: 64,
  reserveTokens: 256,
  minPartTokens: 64,
  overlapShare: 0.1,
  partAnswer: { perContentToken: 0.25, min: 32 },
  reduceFrameTokens: 45,
  reduceMaxTokens: 64,
  tagTokens: 16,
};
const summary: SplittableItem = { inputTokens: 4030, expectedOutputTokens: 64, split: summarySplit };

describe('callsOn', () => {
  it('is one call, the item as estimated, where its prompt and answer fit or the context is unknown', () => {
    const one = { ok: true, calls: 1, usage: { inputTokens: 4030, outputTokens: 64 } };
    expect(callsOn(summary, 4094)).toEqual(one);
    expect(callsOn(summary, undefined)).toEqual(one);
    expect(callsOn({ inputTokens: 4030, expectedOutputTokens: 64 }, 512)).toEqual(one);
  });

  it('counts a long document as its chunks plus one combining call when their answers fit one prompt', () => {
    // Room for 1,683 tokens a chunk, 168 of them repeated: 3 chunks, each answered in 64 tokens, then the final call.
    const calls = callsOn(summary, 2048);
    expect(calls).toMatchObject({ ok: true, calls: 4 });
    if (!calls.ok) return;
    expect(calls.usage.inputTokens).toBe(3 * 45 + 4000 + 2 * 168 + 45 + 3 * (64 + 16));
    expect(calls.usage.outputTokens).toBe(3 * 64 + 64);
  });

  it('counts the combining rounds a small context needs: dozens of calls on 512 tokens', () => {
    const small = callsOn(summary, 512);
    const large = callsOn(summary, 2048);
    expect(small.ok && large.ok).toBe(true);
    if (!small.ok || !large.ok) return;
    // 30 chunks of 147 tokens; answers combined two, then three at a time, then the final call.
    expect(small.calls).toBe(30 + 15 + 5 + 1);
    expect(small.usage.inputTokens).toBeGreaterThan(2 * large.usage.inputTokens - 2000);
    expect(small.usage.outputTokens).toBeGreaterThan(5 * large.usage.outputTokens);
  });

  it('cannot run a document where the context leaves less than the smallest chunk, and says what it leaves', () => {
    const extractAnswer = { perContentToken: 0, min: 40 };
    const extractSplit: DocumentSplit = { ...summarySplit, partFrameTokens: 175, partAnswer: extractAnswer };
    const extract: SplittableItem = { ...summary, split: extractSplit };
    expect(partRoom(512, extract.split!)).toBe(17);
    expect(callsOn(extract, 512)).toEqual({
      ok: false,
      reason:
        'a context of 512 tokens leaves 17 tokens for a part of the document after its prompt and answer; ' +
        'at least 64 are needed',
    });
    expect(callsOn(extract, 2048).ok).toBe(true);
  });

  it('cannot run a document whose chunks fit but whose answers cannot be combined two at a time', () => {
    const wordy = { ...summary, split: { ...summarySplit, partAnswer: { perContentToken: 1, min: 64 } } };
    // Room 147 a chunk; answers of 64 + 16 tags: only one fits the combining prompt's room.
    expect(callsOn(wordy, 512)).toEqual({
      ok: false,
      reason: "a context of 512 tokens cannot hold the parts' answers with the prompt that combines them",
    });
  });

  const fileSplit: FileSplit = {
    kind: 'file',
    maxTokens: 256,
    contentTokens: 1200,
    partFrameTokens: 120,
    partMaxTokens: 256,
    reserveTokens: 256,
    minPartTokens: 32,
    outputGrowth: 1.25,
  };
  const file: SplittableItem = { inputTokens: 1330, expectedOutputTokens: 1336, split: fileSplit };

  it('migrates a file longer than one answer in parts of at most maxTokens / 1.25 wherever it runs', () => {
    // 256 / 1.25 = 204 tokens a part on any context that leaves that much: 6 parts, the frame repeated in each.
    const usage = { inputTokens: 6 * 120 + 1200, outputTokens: 1336 };
    expect(callsOn(file, 128_000)).toEqual({ ok: true, calls: 6, usage });
    expect(callsOn(file, 2048)).toMatchObject({ ok: true, calls: 6 });
  });

  it('migrates a file in smaller parts where the context is small, and not at all below the smallest part', () => {
    // 700 - 120 - 256 - 256 = 68 tokens a part: 18 parts.
    expect(callsOn(file, 700)).toMatchObject({ ok: true, calls: 18 });
    expect(callsOn(file, 512)).toEqual({
      ok: false,
      reason:
        'a context of 512 tokens leaves 0 tokens for a part of the file after its prompt and answer; ' +
        'at least 32 are needed',
    });
  });

  it('asks for a short file whole where it fits, however small the parts could be', () => {
    const short = { inputTokens: 250, expectedOutputTokens: 140, split: { ...fileSplit, contentTokens: 120 } };
    expect(callsOn(short, 512)).toEqual({ ok: true, calls: 1, usage: { inputTokens: 250, outputTokens: 140 } });
  });
});
