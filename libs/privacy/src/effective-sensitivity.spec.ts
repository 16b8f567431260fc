import { describe, expect, it } from '@jest/globals';
import { effectiveSensitivity } from './effective-sensitivity.js';
import { detectPii } from './pii-detector.js';
import { DEFAULT_PII_RULES } from './pii-rules.js';

const CARD = 'Please charge 4111 1111 1111 1111 for the renewal.';
const SSN = 'Applicant SSN 536-22-1234, approved.';

describe('effectiveSensitivity', () => {
  it('treats a public item holding a card number as confidential', () => {
    expect(effectiveSensitivity('public', detectPii(CARD))).toEqual({
      sensitivity: 'confidential',
      raised: true,
      categories: ['card'],
    });
  });

  it('never lowers: a restricted item holding a card number stays restricted', () => {
    expect(effectiveSensitivity('restricted', detectPii(CARD))).toEqual({
      sensitivity: 'restricted',
      raised: false,
      categories: ['card'],
    });
  });

  it('keeps the declared level when the floor equals it', () => {
    expect(effectiveSensitivity('confidential', detectPii(CARD))).toMatchObject({
      sensitivity: 'confidential',
      raised: false,
    });
  });

  it('leaves an item without PII as declared', () => {
    expect(effectiveSensitivity('internal', detectPii('Summarise the Q3 roadmap, 12 items, due 2024-10-01.'))).toEqual({
      sensitivity: 'internal',
      raised: false,
      categories: [],
    });
  });

  it('takes the highest floor among the categories found', () => {
    const detection = detectPii(`${CARD} Reply to ana@example.org. ${SSN}`);
    expect(detection.categories).toEqual(['email', 'card', 'national-id']);
    expect(effectiveSensitivity('internal', detection)).toMatchObject({ sensitivity: 'restricted', raised: true });
  });

  it('follows the configured rules: a floor raised per category, a category switched off', () => {
    expect(
      effectiveSensitivity('public', detectPii(CARD, { ...DEFAULT_PII_RULES, card: 'restricted' })).sensitivity,
    ).toBe('restricted');
    expect(effectiveSensitivity('public', detectPii(CARD, { ...DEFAULT_PII_RULES, card: false }))).toEqual({
      sensitivity: 'public',
      raised: false,
      categories: [],
    });
  });
});

describe('effectiveSensitivity over several fields', () => {
  it('takes the highest floor and every category of the item and its task', () => {
    const item = detectPii(['Quarterly report', 'docs/report.md']);
    const task = detectPii(['Bill card 4111.1111.1111.1111 for it', 'SSN 536 22 1234']);
    expect(effectiveSensitivity('public', [item, task])).toEqual({
      sensitivity: 'restricted',
      raised: true,
      categories: ['card', 'national-id'],
    });
    expect(effectiveSensitivity('internal', [item])).toEqual({
      sensitivity: 'internal',
      raised: false,
      categories: [],
    });
  });
});
