import { passesBsnElevenProof, passesDniLetter, passesNirKey } from '../check-digits.js';
import type { Detector } from './detector.js';
import { NUMBER_END, NUMBER_START, SPACE, hasLabelBefore } from './token-boundaries.js';

/**
 * One national identifier scheme: a candidate regex and what must hold for a match to count.
 * Formats that a checksum alone cannot tell from an ordinary number (a bare 9-digit SSN or BSN)
 * also need their label just before them ("SSN: …", "BSN …").
 */
interface IdScheme {
  candidate: RegExp;
  valid(match: RegExpExecArray, text: string): boolean;
  /** For labelled schemes: the scheme is skipped when the text never names it, saving a pass. */
  mentionedBy?: RegExp;
}

const SSN_MENTION = /\b(?:ssn|ss#|social security)/i;
const SSN_LABEL = /\b(?:ssn|ss#|social security(?: number| no\.?)?)\s*[:#]?\s*$/i;
const BSN_MENTION = /\b(?:bsn|burgerservicenummer|sofi-?nummer)/i;
const BSN_LABEL = /\b(?:bsn|burgerservicenummer|sofi-?nummer)(?:-?nummer)?\s*[:#]?\s*$/i;

/**
 * US SSN area 001–665 and 667–899, group 01–99, serial 0001–9999 (SSA's never-issued ranges), and
 * not a number SSA voided after it was printed in advertising (078-05-1120, 219-09-9999) or the
 * placeholder 123-45-6789 found on sample forms.
 */
function isIssuableSsn(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  if (a === 0 || a === 666 || a >= 900 || group === '00' || serial === '0000') return false;
  const ssn = `${area}${group}${serial}`;
  return ssn !== '078051120' && ssn !== '219099999' && ssn !== '123456789';
}

// UK NINO: first letter not D F I Q U V, second not D F I O Q U V, suffix A–D;
// BG GB KN NK NT TN ZZ are never allocated.
const NINO_UNALLOCATED = new Set(['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ']);

const SCHEMES: readonly IdScheme[] = [
  // US SSN written 123-45-6789: the dashes make it unambiguous enough without a label.
  {
    candidate: new RegExp(String.raw`${NUMBER_START}(\d{3})-(\d{2})-(\d{4})${NUMBER_END}`, 'g'),
    valid: ([, area, group, serial]) => isIssuableSsn(area, group, serial),
  },
  // US SSN written "123 45 6789" or "123456789", only after an "SSN" label.
  {
    candidate: new RegExp(String.raw`${NUMBER_START}(\d{3})(${SPACE}?)(\d{2})\2(\d{4})${NUMBER_END}`, 'g'),
    valid: (m, text) => isIssuableSsn(m[1], m[3], m[4]) && hasLabelBefore(text, m.index, SSN_LABEL),
    mentionedBy: SSN_MENTION,
  },
  // Dutch BSN, "123456782" or "1234.56.782", elfproef and a "BSN" label.
  {
    candidate: new RegExp(String.raw`${NUMBER_START}(\d{4})[. \u00a0]?(\d{2})[. \u00a0]?(\d{3})${NUMBER_END}`, 'g'),
    valid: (m, text) => passesBsnElevenProof(m[1] + m[2] + m[3]) && hasLabelBefore(text, m.index, BSN_LABEL),
    mentionedBy: BSN_MENTION,
  },
  // UK National Insurance number, "AB 12 34 56 C" or unbroken.
  {
    candidate: new RegExp(
      String.raw`(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])${SPACE}?(\d{2})${SPACE}?(\d{2})${SPACE}?(\d{2})${SPACE}?[A-D](?![A-Za-z0-9])`,
      'g',
    ),
    valid: ([, prefix]) => !NINO_UNALLOCATED.has(prefix),
  },
  // Spanish DNI (12345678Z) and NIE (X1234567L), with their check letter.
  {
    candidate: new RegExp(String.raw`${NUMBER_START}([XYZ]\d{7}|\d{8})-?([A-Z])(?![\w@])`, 'g'),
    valid: ([, number, letter]) => !/^[XYZ]?0+$/.test(number) && passesDniLetter(number + letter),
  },
  // French NIR with its key: sex, year, month (01–12, or 20–99 when unknown), département
  // (2A/2B for Corsica), commune, order, key: "1 85 05 78 006 084 91" or unbroken.
  {
    candidate: new RegExp(
      String.raw`${NUMBER_START}([12])${SPACE}?(\d{2})${SPACE}?(0[1-9]|1[0-2]|[2-9]\d)${SPACE}?(\d{2}|2[AB])${SPACE}?(\d{3})${SPACE}?(\d{3})${SPACE}?(\d{2})${NUMBER_END}`,
      'g',
    ),
    valid: ([, sex, year, month, department, commune, order, key]) =>
      department !== '00' && passesNirKey(sex + year + month + department + commune + order + key),
  },
];

/** National identity numbers: US SSN, UK NINO, Spanish DNI/NIE, French NIR, Dutch BSN. */
export const nationalIdDetector: Detector = {
  category: 'national-id',
  scan(text, found) {
    for (const scheme of SCHEMES) {
      if (scheme.mentionedBy !== undefined && !scheme.mentionedBy.test(text)) continue;
      const re = new RegExp(scheme.candidate);
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        if (scheme.valid(m, text)) found(m.index, m.index + m[0].length);
      }
    }
  },
};
