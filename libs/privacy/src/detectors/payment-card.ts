import { passesLuhn } from '../check-digits.js';
import type { Detector } from './detector.js';
import { LOOSE_JOIN } from '../scan-views.js';
import { NUMBER_END, NUMBER_START } from './token-boundaries.js';

/**
 * Issuer identification ranges (the leading digits of a PAN) and the lengths each network issues.
 * A 13–19 digit number that passes Luhn but starts outside these (timestamps starting 1, ids
 * starting 9, …) is not treated as a card.
 */
const ISSUER_RANGES: ReadonlyArray<{ from: string; to: string; lengths: readonly number[] }> = [
  { from: '4', to: '4', lengths: [13, 16, 19] }, // Visa
  { from: '51', to: '55', lengths: [16] }, // Mastercard
  { from: '2221', to: '2720', lengths: [16] }, // Mastercard 2-series
  { from: '34', to: '34', lengths: [15] }, // American Express
  { from: '37', to: '37', lengths: [15] },
  { from: '300', to: '305', lengths: [14, 16, 17, 18, 19] }, // Diners Club
  { from: '36', to: '36', lengths: [14, 16, 17, 18, 19] },
  { from: '38', to: '39', lengths: [16, 17, 18, 19] },
  { from: '3528', to: '3589', lengths: [16, 17, 18, 19] }, // JCB
  { from: '6011', to: '6011', lengths: [16, 17, 18, 19] }, // Discover
  { from: '644', to: '649', lengths: [16, 17, 18, 19] },
  { from: '65', to: '65', lengths: [16, 17, 18, 19] },
  { from: '62', to: '62', lengths: [16, 17, 18, 19] }, // UnionPay
  { from: '60', to: '60', lengths: [16] }, // RuPay
  { from: '81', to: '82', lengths: [16] },
  { from: '2200', to: '2204', lengths: [16, 17, 18, 19] }, // Mir
  { from: '5018', to: '5018', lengths: [13, 14, 15, 16, 17, 18, 19] }, // Maestro
  { from: '5020', to: '5020', lengths: [13, 14, 15, 16, 17, 18, 19] },
  { from: '5038', to: '5038', lengths: [13, 14, 15, 16, 17, 18, 19] },
  { from: '5893', to: '5893', lengths: [13, 14, 15, 16, 17, 18, 19] },
  { from: '6304', to: '6304', lengths: [13, 14, 15, 16, 17, 18, 19] },
  { from: '6759', to: '6759', lengths: [13, 14, 15, 16, 17, 18, 19] },
  { from: '6761', to: '6763', lengths: [13, 14, 15, 16, 17, 18, 19] },
  { from: '9792', to: '9792', lengths: [16] }, // Troy
];

// Every range above shares its first digit between `from` and `to`.
const ISSUER_FIRST_DIGITS = new Set(ISSUER_RANGES.map((r) => r.from.charCodeAt(0)));

function hasKnownIssuer(pan: string): boolean {
  return ISSUER_RANGES.some(({ from, to, lengths }) => {
    const prefix = pan.slice(0, from.length);
    return lengths.includes(pan.length) && prefix >= from && prefix <= to;
  });
}

// A run of 13 or more digits, unbroken or in groups joined by one space, no-break space (LOOSE_JOIN in the
// separator-unified view) or dash. Starting on `\d` lets the engine skip to the next digit, and the lookahead
// keeps the many shorter numbers of a text from becoming matches at all. A run can hold more than the card
// ("paid 2024 4111 1111 1111 1111"), so it is read in code.
const CANDIDATE = new RegExp(
  String.raw`${NUMBER_START}\d(?=(?:[ \u00a0-]?\d){12})(?:[ \u00a0-]?\d)*${NUMBER_END}`,
  'g',
);
const isAsciiDigit = (c: number) => c >= 48 && c <= 57;

/**
 * Whether `text[start..end)`, holding `digits` digits and perhaps separators, is a card number.
 * Luhn first: it reads the text in place and rejects 9 in 10 before any substring is made.
 */
function isCardNumber(text: string, start: number, end: number, digits: number): boolean {
  if (digits < 13 || digits > 19 || !passesLuhn(text, start, end)) return false;
  return hasKnownIssuer(text.slice(start, end).replace(/\D/g, ''));
}

/**
 * Reads a run of digit groups two ways. A window of it that starts on a 4-digit group and goes on over
 * groups of 3–6 (4-4-4-4, 4-6-5 Amex, 4-6-4 Diners, 4-4-4-4-3) joined by tight separators holds a card if it
 * has 13–19 digits, the longest first so a 19-digit PAN is not cut at 16. Otherwise the whole run is a card
 * when it has 13–19 digits, grouped any way at all: `4 1 1 1 1 1 …` or `4111\n1111\n…` is what a model reads
 * as the number, while a run of more figures than a card ("2019,4500,1200,3300,1250") is not read as one.
 * Group bounds are kept as numbers, not substrings: a run can be megabytes of "1234 5678 …" figures.
 */
function scanRun(text: string, runStart: number, runEnd: number, found: (start: number, end: number) => void): void {
  const starts: number[] = [];
  const ends: number[] = [];
  let digits = 0;
  for (let i = runStart; i < runEnd; i++) {
    starts.push(i);
    while (i < runEnd && isAsciiDigit(text.charCodeAt(i))) i++;
    ends.push(i); // the loop's i++ steps over the one-character separator
    digits += i - starts[starts.length - 1];
  }
  for (let i = 0; i < starts.length - 1; i++) {
    if (ends[i] - starts[i] !== 4 || !ISSUER_FIRST_DIGITS.has(text.charCodeAt(starts[i]))) continue;
    let last = -1;
    let windowDigits = 4;
    for (let j = i + 1; j < starts.length && text[starts[j] - 1] !== LOOSE_JOIN; j++) {
      const size = ends[j] - starts[j];
      if (size < 3 || size > 6 || (windowDigits += size) > 19) break;
      if (isCardNumber(text, starts[i], ends[j], windowDigits)) last = j;
    }
    if (last !== -1) {
      found(starts[i], ends[last]);
      digits = 0; // the run held a card, so it is not read whole
      i = last;
    }
  }
  if (isCardNumber(text, runStart, runEnd, digits)) found(runStart, runEnd);
}

/** Payment card numbers (PANs): known issuer range, issued length, and a valid Luhn check digit. */
export const paymentCardDetector: Detector = {
  category: 'card',
  scan(text, found) {
    const re = new RegExp(CANDIDATE);
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const end = m.index + m[0].length;
      scanRun(text, m.index, end, found);
    }
  },
};
