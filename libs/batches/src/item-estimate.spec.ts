import { describe, expect, it } from '@jest/globals';
import type { WorkItem } from '#libs/domain';
import { promptFor } from '#libs/jobs';
import { TokenCalibration } from '#libs/routing';
import { routableItem, uncorrectedEstimate } from './item-estimate.js';

const task = { instruction: 'Convert to ES modules' };
const file = (chars: number): WorkItem => ({
  batchId: 'b',
  index: 0,
  itemId: 'src/a.js',
  kind: 'code-migration',
  sensitivity: 'public',
  deadline: 0,
  input: 'x'.repeat(chars),
  path: 'src/a.js',
});

/** Migrations that wrote 1.5× their estimate (50 items: past the samples a ratio needs). */
function writesMore(): TokenCalibration {
  const c = new TokenCalibration();
  for (let i = 0; i < 50; i++)
    c.record('migrate', { inputTokens: 100, outputTokens: 150 }, { inputTokens: 100, outputTokens: 100 });
  return c;
}

describe('an item’s routing estimate', () => {
  const max = 512;

  it('corrects the answer by what the kind wrote, but never past what one call may write (its max_tokens)', () => {
    const short = routableItem(file(400), task, max, writesMore());
    const shortPrompt = promptFor(file(400), task, max);
    expect(short.expectedOutputTokens).toBe(Math.round(shortPrompt.expectedOutputTokens * 1.5));
    // A file whose answer fills the call: the ratio would put it past the cap.
    const full = routableItem(file(1800), task, max, writesMore());
    expect(promptFor(file(1800), task, max).expectedOutputTokens).toBe(max);
    expect(full.expectedOutputTokens).toBe(max);
  });

  it('leaves uncapped a file migrated in parts: its output spans several calls', () => {
    const long = file(20_000);
    const expected = promptFor(long, task, max).expectedOutputTokens;
    expect(expected).toBeGreaterThan(max);
    expect(routableItem(long, task, max, writesMore()).expectedOutputTokens).toBe(Math.round(expected * 1.5));
  });

  it('gives the local queue’s view (kept uncorrected, corrected per call) what intake gives', () => {
    const calibration = writesMore();
    for (const item of [file(400), file(1800), file(20_000)]) {
      const kept = uncorrectedEstimate(item, task, max);
      expect({ ...kept, ...calibration.apply('migrate', kept) }.expectedOutputTokens).toBe(
        routableItem(item, task, max, calibration).expectedOutputTokens,
      );
    }
  });
});
