import { describe, expect, it } from '@jest/globals';
import { passesBsnElevenProof, passesDniLetter, passesIbanMod97, passesLuhn, passesNirKey } from './check-digits.js';

// Published examples: card-network test PANs, the ISO 13616 and national-bank sample IBANs, and
// the documented sample identifiers of each scheme.
describe('check digits', () => {
  it('Luhn accepts issuer test PANs and rejects any single changed digit', () => {
    expect(passesLuhn('79927398713')).toBe(true);
    expect(passesLuhn('4111111111111111')).toBe(true);
    expect(passesLuhn('378282246310005')).toBe(true);
    expect(passesLuhn('4111 1111 1111 1111')).toBe(true);
    expect(passesLuhn('4111-1111-1111-1111')).toBe(true);
    for (let i = 0; i < 16; i++) {
      const changed = '4111111111111111'.slice(0, i) + '2' + '4111111111111111'.slice(i + 1);
      expect(passesLuhn(changed)).toBe(false);
    }
    expect(passesLuhn('')).toBe(false);
    expect(passesLuhn('4111x11111111111')).toBe(false);
  });

  it('Luhn reads a span of a longer text in place', () => {
    const text = 'card: 4111 1111 1111 1111, thanks';
    expect(passesLuhn(text, 6, 25)).toBe(true);
    expect(passesLuhn(text, 6, 24)).toBe(false);
  });

  it('mod-97 accepts the sample IBANs and rejects a changed check digit or a transposition', () => {
    for (const iban of [
      'GB82WEST12345698765432',
      'DE89370400440532013000',
      'NL91ABNA0417164300',
      'FR1420041010050500013M02606',
      'NO9386011117947',
    ]) {
      expect(passesIbanMod97(iban)).toBe(true);
    }
    expect(passesIbanMod97('GB83WEST12345698765432')).toBe(false);
    expect(passesIbanMod97('DE89370400440532013090')).toBe(false);
    expect(passesIbanMod97('DE89370400440532010300')).toBe(false);
    expect(passesIbanMod97('DE89 3704')).toBe(false);
  });

  it('the BSN elfproef accepts sample BSNs, not an off-by-one or all zeros', () => {
    expect(passesBsnElevenProof('111222333')).toBe(true);
    expect(passesBsnElevenProof('123456782')).toBe(true);
    expect(passesBsnElevenProof('123456789')).toBe(false);
    expect(passesBsnElevenProof('000000000')).toBe(false);
    expect(passesBsnElevenProof('12345678')).toBe(false);
  });

  it('the DNI/NIE letter is number mod 23, with X/Y/Z read as 0/1/2', () => {
    expect(passesDniLetter('12345678Z')).toBe(true);
    expect(passesDniLetter('X1234567L')).toBe(true);
    expect(passesDniLetter('12345678A')).toBe(false);
    expect(passesDniLetter('Y1234567L')).toBe(false);
    expect(passesDniLetter('X12345678Z')).toBe(false);
  });

  it('the NIR key is 97 − (number mod 97), with Corsica 2A/2B read as 19/18', () => {
    expect(passesNirKey('185057800608491')).toBe(true);
    expect(passesNirKey('269054958815780')).toBe(true);
    expect(passesNirKey('185057800608436')).toBe(false);
    expect(passesNirKey('17512' + '2A' + '123456' + '53')).toBe(true);
    expect(passesNirKey('17512' + '2B' + '123456' + '80')).toBe(true);
    expect(passesNirKey('17512' + '2B' + '123456' + '53')).toBe(false);
  });
});
