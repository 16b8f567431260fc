import { passesIbanMod97 } from '../check-digits.js';
import type { Detector } from './detector.js';
import { SPACE } from './token-boundaries.js';

/** IBAN length per country (SWIFT IBAN registry); a country code outside this table is not an IBAN. */
const IBAN_LENGTH: Readonly<Record<string, number>> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BI: 27,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DJ: 27,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FK: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HN: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  LY: 25,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MN: 20,
  MR: 27,
  MT: 31,
  MU: 30,
  NI: 28,
  NL: 18,
  NO: 15,
  OM: 23,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  RU: 33,
  SA: 24,
  SC: 31,
  SD: 18,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  SO: 23,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
  YE: 30,
};

// Country code, two check digits, then the BBAN either unbroken or in the printed groups of four.
// Either case: a lower-case `de89 3704 …` reached a provider unscanned (issue 13 §1). The country's
// length and mod-97 do the real filtering.
const CANDIDATE = new RegExp(
  String.raw`(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:${SPACE}?[A-Za-z0-9]{4}){2,7}` +
    String.raw`(?:${SPACE}?[A-Za-z0-9]{1,4})?(?![A-Za-z0-9])`,
  'g',
);

/**
 * The end of the IBAN inside `candidate` once `length` characters (separators skipped) are taken,
 * or -1 when the candidate is shorter or the IBAN would end inside a printed group (a longer token).
 */
function ibanEnd(candidate: string, length: number): number {
  let seen = 0;
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate.charCodeAt(i);
    if (c === 32 || c === 0xa0) continue;
    if (++seen === length) {
      const next = candidate.charCodeAt(i + 1);
      return i + 1 === candidate.length || next === 32 || next === 0xa0 ? i + 1 : -1;
    }
  }
  return -1;
}

/** IBANs: a registered country code, that country's length, and the ISO 13616 mod-97 check. */
export const ibanDetector: Detector = {
  category: 'iban',
  scan(text, found) {
    const re = new RegExp(CANDIDATE);
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const length = IBAN_LENGTH[m[0].slice(0, 2).toUpperCase()];
      if (length === undefined) continue;
      // "… 0130 00 SEPA": the run may run on into a word after the IBAN.
      const end = ibanEnd(m[0], length);
      if (end === -1) continue;
      const iban = m[0]
        .slice(0, end)
        .replace(/[ \u00a0]/g, '')
        .toUpperCase();
      const check = Number(iban.slice(2, 4));
      if (check >= 2 && check <= 98 && passesIbanMod97(iban)) found(m.index, m.index + end);
    }
  },
};
