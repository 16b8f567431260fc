/**
 * The texts a detector reads for one field: what a model would read, not what was typed. An attacker (or a
 * careless user) can write a card number so that a model still reads it but a scanner of the raw text does
 * not: fullwidth digits (`４１１１`), zero-width or soft-hyphen characters inside it, thin or narrow no-break
 * spaces, dots, slashes, underscores or Unicode dashes between its groups (issue 13 §1).
 */

// Format characters (Unicode category Cf) are invisible: ZWSP/ZWNJ/ZWJ U+200B–U+200D, word joiner U+2060,
// BOM U+FEFF, soft hyphen U+00AD, bidi controls. Removed, so `4111\u200b1111…` reads as the digits it shows.
const FORMAT = /\p{Cf}/gu;
// What NFKC leaves as a space of another kind (it maps most of them, fullwidth U+3000 included, to U+0020).
const SPACES = /[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/g;
// Hyphens, dashes and the minus sign, U+2010–U+2015 and U+2212 and their small and fullwidth forms.
const DASHES = /[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]/g;
const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlnum = (c: number) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
// space . / _ -
const isGroupSeparator = (c: number) => c === 32 || c === 46 || c === 47 || c === 95 || c === 45;

// eslint-disable-next-line no-control-regex -- the range is the ASCII set, control characters included
const NON_ASCII = /[^\x00-\x7f]/;

/** NFKC, format characters removed, every space a space and every dash a hyphen-minus. */
export function normalizedForScan(text: string): string {
  // ASCII is already all of that; most documents and code are, and NFKC over megabytes is not free.
  if (!NON_ASCII.test(text)) return text;
  return text.normalize('NFKC').replace(FORMAT, '').replace(SPACES, ' ').replace(DASHES, '-');
}

/**
 * The normalized text with every separator run between digit groups made one space: `4111.1111/1111_1111`
 * and `4111 - 1111 - 1111 - 1111` both read `4111 1111 1111 1111`. Only identifiers with a checksum or a
 * label read this view (card, IBAN, national id), so a date or a version number losing its dots cannot
 * become a phone number.
 */
export function separatorsUnified(normalized: string): string {
  // A loop, not a regex with lookbehind: this runs over every item's whole text (3x faster on 10 MB).
  const parts: string[] = [];
  let copied = 0;
  for (let i = 1; i < normalized.length; i++) {
    if (!isGroupSeparator(normalized.charCodeAt(i))) continue;
    const before = normalized.charCodeAt(i - 1);
    let end = i + 1;
    while (end < normalized.length && isGroupSeparator(normalized.charCodeAt(end))) end++;
    const after = normalized.charCodeAt(end);
    // Between digit groups, or a letter group and a digit group (an IBAN's `GB82-WEST-1234`).
    const between = isAlnum(before) && isAlnum(after) && (isDigit(before) || isDigit(after));
    if (between && !(end === i + 1 && normalized.charCodeAt(i) === 32)) {
      parts.push(normalized.slice(copied, i), ' ');
      copied = end;
    }
    i = end - 1;
  }
  if (copied === 0) return normalized;
  parts.push(normalized.slice(copied));
  return parts.join('');
}
