import { sensitivityRank, type Sensitivity } from '#libs/domain';
import type { Detector } from './detectors/detector.js';
import { emailDetector } from './detectors/email.js';
import { ibanDetector } from './detectors/iban.js';
import { nationalIdDetector } from './detectors/national-id.js';
import { paymentCardDetector } from './detectors/payment-card.js';
import { phoneDetector } from './detectors/phone.js';
import { DEFAULT_PII_RULES, PII_CATEGORIES, type PiiCategory, type PiiRules } from './pii-rules.js';
import { normalizedForScan, separatorsUnified } from './scan-views.js';

/**
 * What an item's text holds, as categories and counts only: never the matched values, so a
 * detection can be logged, stored with the item and audited without becoming a leak itself.
 */
export interface PiiDetection {
  /** Categories found at least once, in PII_CATEGORIES order. */
  categories: PiiCategory[];
  /** Matches per category; 0 for categories not found or switched off. */
  counts: Record<PiiCategory, number>;
  /** The highest floor among the categories found, or null when nothing was found. */
  floor: Sensitivity | null;
}

/**
 * Detectors in precedence order: when two matches overlap, the earlier detector's wins. An IBAN
 * holds digit groups that can pass as a card; a card or an ID can contain phone-like runs.
 */
const DETECTORS: readonly Detector[] = [
  ibanDetector,
  paymentCardDetector,
  nationalIdDetector,
  emailDetector,
  phoneDetector,
];

interface Span {
  start: number;
  end: number;
  precedence: number;
}

/** Detectors whose checksum or label keeps them exact on the separator-unified view (see scan-views.ts). */
const READS_UNIFIED_VIEW: ReadonlySet<PiiCategory> = new Set<PiiCategory>(['iban', 'card', 'national-id']);

/**
 * Scans `texts` (one field, or every field that reaches a provider) for the categories `rules` switch on.
 * Each field is read as normalized (NFKC, format characters removed, one kind of space and dash) and, for
 * the checksummed identifiers, with its separators between digit groups unified too; a category counts the
 * most either view found, and the fields' counts add up. Pure and synchronous; ~linear in the text.
 */
export function detectPii(texts: string | readonly string[], rules: PiiRules = DEFAULT_PII_RULES): PiiDetection {
  const counts = Object.fromEntries(PII_CATEGORIES.map((c) => [c, 0])) as Record<PiiCategory, number>;
  for (const text of typeof texts === 'string' ? [texts] : texts) {
    const normalized = normalizedForScan(text);
    const unified = separatorsUnified(normalized);
    const found = countIn(normalized, rules, () => true);
    const alsoFound = unified === normalized ? found : countIn(unified, rules, (c) => READS_UNIFIED_VIEW.has(c));
    for (const c of PII_CATEGORIES) counts[c] += Math.max(found[c], alsoFound[c]);
  }

  const categories = PII_CATEGORIES.filter((c) => counts[c] > 0);
  let floor: Sensitivity | null = null;
  for (const category of categories) {
    const level = rules[category];
    if (level !== false && (floor === null || sensitivityRank(level) > sensitivityRank(floor))) floor = level;
  }
  return { categories, counts, floor };
}

/** Matches per category in one text, overlaps resolved by detector precedence. */
function countIn(text: string, rules: PiiRules, reads: (c: PiiCategory) => boolean): Record<PiiCategory, number> {
  const spans: Span[] = [];
  DETECTORS.forEach((detector, precedence) => {
    if (rules[detector.category] === false || !reads(detector.category)) return;
    detector.scan(text, (start, end) => spans.push({ start, end, precedence }));
  });
  const counts = Object.fromEntries(PII_CATEGORIES.map((c) => [c, 0])) as Record<PiiCategory, number>;
  for (const span of withoutOverlaps(spans)) counts[DETECTORS[span.precedence].category]++;
  return counts;
}

/** Keeps one span where spans overlap: the one from the detector with precedence. */
function withoutOverlaps(spans: Span[]): Span[] {
  spans.sort((a, b) => a.start - b.start || a.precedence - b.precedence);
  const kept: Span[] = [];
  for (const span of spans) {
    const last = kept[kept.length - 1];
    if (last === undefined || span.start >= last.end) kept.push(span);
    else if (span.precedence < last.precedence) kept[kept.length - 1] = span;
  }
  return kept;
}
