import { describe, expect, it } from '@jest/globals';
import { DEFAULT_PII_RULES, parsePiiRules } from './pii-rules.js';

describe('parsePiiRules (PII_RULES)', () => {
  it('defaults when unset: contact details internal, money confidential, national ids restricted', () => {
    expect(parsePiiRules(undefined)).toEqual({
      email: 'internal',
      phone: 'internal',
      iban: 'confidential',
      card: 'confidential',
      'national-id': 'restricted',
    });
    expect(parsePiiRules('  ')).toBe(DEFAULT_PII_RULES);
  });

  it('lays the given keys over the defaults: a floor, false to stop looking, true for the default floor', () => {
    expect(parsePiiRules('{"card": "restricted", "email": false, "phone": true}')).toEqual({
      ...DEFAULT_PII_RULES,
      card: 'restricted',
      email: false,
    });
  });

  it.each([
    ['{not json', /^PII_RULES: expected a JSON object/],
    ['["card"]', /^PII_RULES: expected a JSON object/],
    [
      '{"cards": "restricted"}',
      /^PII_RULES\.cards: expected a category, one of email, phone, iban, card, national-id$/,
    ],
    [
      '{"card": "secret"}',
      /^PII_RULES\.card: expected one of public, internal, confidential, restricted, true or false, got "secret"$/,
    ],
    ['{"email": 1}', /^PII_RULES\.email: expected one of .*, got "1"$/],
    ['{"national-id": null}', /^PII_RULES\.national-id: expected one of .*, got "null"$/],
  ])('names the key and the expected form: %s', (json, message) => {
    expect(() => parsePiiRules(json)).toThrow(message);
  });
});
