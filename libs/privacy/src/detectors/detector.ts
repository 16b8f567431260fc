import type { PiiCategory } from '../pii-rules.js';

/**
 * Finds one category of PII. `scan` reports the span of each candidate that passed validation
 * (checksum, allowed ranges, context); spans never leave the detector module, only counts do.
 */
export interface Detector {
  readonly category: PiiCategory;
  scan(text: string, found: (start: number, end: number) => void): void;
}
