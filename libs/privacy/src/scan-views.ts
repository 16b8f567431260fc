/**
 * The texts a detector reads for one field: what a model would read, not what was typed. An attacker (or a
 * careless user) can write a card number so that a model still reads it but a scanner of the raw text does
 * not: fullwidth digits (`４１１１`), digits of another script (`٤١١١`, `४१११`), zero-width or soft-hyphen
 * characters inside it, thin or narrow no-break spaces, dots, slashes, underscores, Unicode dashes, line breaks,
 * tabs, commas, colons or plus signs between its groups (issue 13 §1).
 */

// Format characters (Unicode category Cf) are invisible: ZWSP/ZWNJ/ZWJ U+200B–U+200D, word joiner U+2060,
// BOM U+FEFF, soft hyphen U+00AD, bidi controls. Removed, so `4111\u200b1111…` reads as the digits it shows.
const FORMAT = /\p{Cf}/gu;
// What NFKC leaves as a space of another kind (it maps most of them, fullwidth U+3000 included, to U+0020).
const SPACES = /[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/g;
// Hyphens, dashes and the minus sign, U+2010–U+2015 and U+2212 and their small and fullwidth forms.
const DASHES = /[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]/g;
// A decimal digit of any script but ASCII: Arabic-Indic `٤`, Persian `۴`, Devanagari `४`, Bengali `৪`, Thai `๔`…
// NFKC leaves them as they are (of these it folds only fullwidth and mathematical digits), and a model reads them as
// digits. Every one of them is Unicode category Nd.
const OTHER_DIGIT = /[^\P{Nd}0-9]/gu;
const ANY_DIGIT = /^\p{Nd}$/u;
const asciiDigitOf = new Map<string, string>();

/**
 * The ASCII digit for a decimal digit of another script. Unicode encodes every script's digits as a
 * contiguous run 0–9 (a stability guarantee; a few scripts have several runs back to back), so a digit's
 * value is its distance from the start of its run, mod 10. Memoized: a document uses a handful of digits.
 */
function asciiDigit(digit: string): string {
  let ascii = asciiDigitOf.get(digit);
  if (ascii === undefined) {
    const code = digit.codePointAt(0)!;
    let zero = code;
    while (ANY_DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
    ascii = String((code - zero) % 10);
    asciiDigitOf.set(digit, ascii);
  }
  return ascii;
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlnum = (c: number) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/**
 * Characters between digit groups that the separator-unified view reads through. Tight ones (space . / _ -)
 * are how numbers are printed; loose ones (tab, line breaks, comma, colon, plus) are as often between figures
 * of a table, a CSV row or a list, so the card detector reads across them only where the whole run is one
 * card (see LOOSE_JOIN).
 */
const SEPARATOR = new Uint8Array(128);
const TIGHT = 1;
const LOOSE = 2;
for (const c of ' ./_-') SEPARATOR[c.charCodeAt(0)] = TIGHT;
for (const c of '\t\n\v\f\r,:+') SEPARATOR[c.charCodeAt(0)] = LOOSE;
// NEL, line separator and paragraph separator: line breaks too.
const separatorKind = (c: number) => (c < 128 ? SEPARATOR[c] : c === 0x85 || c === 0x2028 || c === 0x2029 ? LOOSE : 0);

/**
 * What a run of separators that holds a loose one becomes in the separator-unified view: a no-break space,
 * which normalizedForScan turned every other one of into a space. IBAN and id patterns read it as any space;
 * the card detector reads across it only for a run that is one card as a whole, not for a window of a longer
 * run of figures (`2019,4500,1200,3300,1250` holds a Luhn-valid 16 digits one time in ten).
 */
export const LOOSE_JOIN = '\u00a0';

// eslint-disable-next-line no-control-regex -- the range is the ASCII set, control characters included
const NON_ASCII = /[^\x00-\x7f]/;

/** NFKC, format characters removed, every space a space, every dash a hyphen-minus and every digit ASCII. */
export function normalizedForScan(text: string): string {
  // ASCII is already all of that; most documents and code are, and NFKC over megabytes is not free.
  if (!NON_ASCII.test(text)) return text;
  return text
    .normalize('NFKC')
    .replace(FORMAT, '')
    .replace(SPACES, ' ')
    .replace(DASHES, '-')
    .replace(OTHER_DIGIT, asciiDigit);
}

/**
 * The normalized text with every separator run between digit groups made one space: `4111.1111/1111_1111`
 * and `4111 - 1111 - 1111 - 1111` both read `4111 1111 1111 1111`, and `4111\n1111,1111:1111` reads
 * `4111 1111 1111 1111` with LOOSE_JOIN for each space. Only identifiers with a checksum or a label read this
 * view (card, IBAN, national id), so a date or a version number losing its dots cannot become a phone number.
 */
export function separatorsUnified(normalized: string): string {
  // A loop, not a regex with lookbehind: this runs over every item's whole text (3x faster on 10 MB).
  const parts: string[] = [];
  let copied = 0;
  for (let i = 1; i < normalized.length; i++) {
    let kind = separatorKind(normalized.charCodeAt(i));
    if (kind === 0) continue;
    const before = normalized.charCodeAt(i - 1);
    let plus = false;
    let end = i;
    for (
      let c = normalized.charCodeAt(end);
      end < normalized.length && separatorKind(c) !== 0;
      c = normalized.charCodeAt(++end)
    ) {
      kind |= separatorKind(c);
      plus ||= c === 43;
    }
    const after = normalized.charCodeAt(end);
    // Between digit groups, or a letter group and a digit group (an IBAN's `GB82-WEST-1234`). A plus sign
    // only between digits: after a word it is a number's sign or a phone's `+49…`, which a card is not.
    const between =
      isAlnum(before) &&
      isAlnum(after) &&
      (plus ? isDigit(before) && isDigit(after) : isDigit(before) || isDigit(after));
    if (between && !(end === i + 1 && normalized.charCodeAt(i) === 32)) {
      parts.push(normalized.slice(copied, i), kind & LOOSE ? LOOSE_JOIN : ' ');
      copied = end;
    }
    i = end - 1;
  }
  if (copied === 0) return normalized;
  parts.push(normalized.slice(copied));
  return parts.join('');
}
