/**
 * Check-digit algorithms the PII detectors use to tell a real identifier from a number that merely
 * has its shape. Each takes the identifier's digits (and letters, where the scheme has them) with
 * separators already removed.
 */

/**
 * Luhn (ISO/IEC 7812-1): payment cards. Catches every single-digit error and most transpositions.
 * Reads `s[start..end)` and skips the separators a grouped card is written with (space, no-break
 * space, dash), so a scanner can check a span of the text without copying it out.
 */
export function passesLuhn(s: string, start = 0, end = s.length): boolean {
  let sum = 0;
  let digits = 0;
  for (let i = end - 1; i >= start; i--) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 45 || c === 0xa0) continue;
    let d = c - 48;
    if (d < 0 || d > 9) return false;
    if (digits++ % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits > 0 && sum % 10 === 0;
}

/**
 * ISO 7064 MOD 97-10 as ISO 13616 applies it to an IBAN: move the country code and check digits to
 * the end, read letters as 10..35, and the whole number mod 97 must be 1. Computed digit by digit,
 * since an IBAN is up to 34 characters (~70 digits) and far beyond a double.
 */
export function passesIbanMod97(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      remainder = (remainder * 10 + (c - 48)) % 97;
    } else if (c >= 65 && c <= 90) {
      remainder = (remainder * 100 + (c - 55)) % 97;
    } else {
      return false;
    }
  }
  return remainder === 1;
}

/**
 * The Dutch "elfproef" for a 9-digit BSN: 9·d1 + 8·d2 + … + 2·d8 − 1·d9 must be a non-zero multiple
 * of 11. About 1 in 11 random 9-digit numbers pass, so the detector also asks for a label.
 */
export function passesBsnElevenProof(digits: string): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += (9 - i) * (digits.charCodeAt(i) - 48);
  sum -= digits.charCodeAt(8) - 48;
  return sum !== 0 && sum % 11 === 0;
}

const DNI_LETTERS = 'TRWAGMYFPDXBNJZSQVHLCKE';

/** Spanish DNI (8 digits) and NIE (X/Y/Z + 7 digits): the letter is DNI_LETTERS[number mod 23]. */
export function passesDniLetter(id: string): boolean {
  const m = /^([XYZ]?)(\d{7,8})([A-Z])$/.exec(id);
  if (!m) return false;
  const [, niePrefix, digits, letter] = m;
  if (niePrefix === '' ? digits.length !== 8 : digits.length !== 7) return false;
  const number = Number(niePrefix === '' ? digits : `${'XYZ'.indexOf(niePrefix)}${digits}`);
  return DNI_LETTERS[number % 23] === letter;
}

/**
 * French NIR (numéro de sécurité sociale), 13 characters then a 2-digit key = 97 − (number mod 97).
 * Corsican départements 2A and 2B count as 19 and 18 for the key.
 */
export function passesNirKey(nir: string): boolean {
  const m = /^(\d{5})(\d{2}|2A|2B)(\d{6})(\d{2})$/.exec(nir);
  if (!m) return false;
  const [, head, department, tail, key] = m;
  const numericDepartment = department === '2A' ? '19' : department === '2B' ? '18' : department;
  // 13 digits < 2^53, so plain arithmetic is exact.
  const number = Number(head + numericDepartment + tail);
  return 97 - (number % 97) === Number(key);
}
