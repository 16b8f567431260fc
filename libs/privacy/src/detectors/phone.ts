import type { Detector } from './detector.js';
import { NUMBER_END, NUMBER_START, SPACE, hasLabelBefore } from './token-boundaries.js';

const SEP = String.raw`[ \u00a0.\-]`;
// A phone number starts a run of digit groups: "05 78 006 084 91" inside "1 85 05 78 006 084 91"
// (a French NIR) or inside a row of figures is not one.
const RUN_START = String.raw`${NUMBER_START}(?<!\d[ \u00a0.\-/])`;

/**
 * International form: "+", country code, then digit groups joined by one separator or a
 * parenthesised group: +44 20 7946 0958, +1 (415) 555-0132, +33 6 12 34 56 78, +4915112345678,
 * +44 (0)20 7946 0958. Every group boundary needs a separator, which keeps the regex linear.
 */
const INTERNATIONAL = new RegExp(
  String.raw`${RUN_START}\+\d+(?:(?:${SEP}|${SEP}?\(\d{1,4}\)${SEP}?)\d+)*${NUMBER_END}`,
  'g',
);

/**
 * North American: (415) 555-0132, 415-555-0132, 415.555.0132, 1-800-555-0199. Area code and
 * exchange start 2–9. The all-spaces form "415 555 0132" is left out: it is what a row of numbers
 * ("256 512 1024") looks like.
 */
const NORTH_AMERICAN = new RegExp(
  String.raw`${RUN_START}(?:1[ .\-])?(?:\([2-9]\d{2}\)${SPACE}?[2-9]\d{2}[ .\-]\d{4}|[2-9]\d{2}([.\-])[2-9]\d{2}\1\d{4})${NUMBER_END}`,
  'g',
);

/**
 * National numbers with a trunk "0", as most of Europe writes them: 020 7946 0958, 07700 900123,
 * 06 12 34 56 78, 030/1234567, (089) 1234567, 06-12345678. At least one separator: an unbroken
 * 10-digit number is as likely an id as a phone.
 */
const TRUNK_PREFIXED = new RegExp(
  String.raw`${RUN_START}(?:\(0[1-9]\d{0,3}\)${SPACE}?|0[1-9]\d{0,3}[ \u00a0.\-/])\d+(?:${SEP}\d+)*${NUMBER_END}`,
  'g',
);

// A number labelled as an order, invoice, ticket … is a reference, however phone-like.
const REFERENCE_LABEL =
  /(?:\b(?:order|invoice|inv|ref|reference|ticket|tracking|sku|case|po|account|acct|id|serial|batch|item)\b\.?\s*(?:no\.?|nr\.?|number|#)?\s*[:#=]?\s*|#\s*)$/i;

// dd.mm.yyyy, dd/mm/yy, dd-mm-yyyy at the start of a run: a date, perhaps followed by a time or amount.
const DATE_PREFIX = /^(0[1-9]|[12]\d|3[01])([./-])(0[1-9]|1[0-2])\2(\d{2}|\d{4})(?!\d)/;

function digitCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

// Written phone numbers stay well under this even with every separator ("+44 (0)20 7946 0958" is
// 19 characters); a longer run of digit groups is a table of figures, rejected before it is split.
const MAX_WRITTEN_LENGTH = 32;

function isInternational(candidate: string): boolean {
  if (candidate.length > MAX_WRITTEN_LENGTH) return false;
  // "(0)" is the trunk prefix written for national callers; E.164 leaves it out.
  const digits = digitCount(candidate.replace('(0)', ''));
  return digits >= 8 && digits <= 15;
}

function isTrunkPrefixed(candidate: string): boolean {
  if (candidate.length > MAX_WRITTEN_LENGTH || DATE_PREFIX.test(candidate)) return false;
  const groups = candidate.match(/\d+/g) ?? [];
  const digits = groups.reduce((n, g) => n + g.length, 0);
  // Groups of one digit ("0 1 2 3") are lists, not numbers; more than 6 groups is a table row.
  return digits >= 9 && digits <= 12 && groups.length <= 6 && groups.slice(1).every((g) => g.length >= 2);
}

/** Phone numbers in international (E.164 with separators), North American and trunk-prefixed national forms. */
export const phoneDetector: Detector = {
  category: 'phone',
  scan(text, found) {
    const forms: Array<[RegExp, (candidate: string) => boolean]> = [
      [new RegExp(INTERNATIONAL), isInternational],
      [new RegExp(NORTH_AMERICAN), () => true],
      [new RegExp(TRUNK_PREFIXED), isTrunkPrefixed],
    ];
    for (const [re, valid] of forms) {
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        if (valid(m[0]) && !hasLabelBefore(text, m.index, REFERENCE_LABEL, 24)) found(m.index, m.index + m[0].length);
      }
    }
  },
};
