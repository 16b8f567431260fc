import { describe, expect, it } from '@jest/globals';
import { fitsStrictMode } from './strict-schema.js';

const closed = (properties: Record<string, unknown>) => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

describe('fitsStrictMode', () => {
  it('accepts closed objects with every property required, nested through properties, items, anyOf and $defs', () => {
    expect(fitsStrictMode(closed({ name: { type: 'string' }, age: { type: 'integer', minimum: 0 } }))).toBe(true);
    expect(
      fitsStrictMode({
        ...closed({
          people: { type: 'array', items: { $ref: '#/$defs/person' } },
          note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        }),
        $defs: { person: closed({ name: { type: 'string' } }) },
      }),
    ).toBe(true);
  });

  it('refuses an optional property, an open object, or one nested anywhere', () => {
    expect(fitsStrictMode({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false })).toBe(
      false,
    );
    expect(fitsStrictMode({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] })).toBe(false);
    expect(
      fitsStrictMode(
        closed({ inner: { type: 'array', items: { type: 'object', properties: { b: { type: 'string' } } } } }),
      ),
    ).toBe(false);
    expect(
      fitsStrictMode({ ...closed({ a: { type: 'string' } }), $defs: { x: { type: 'object', properties: {} } } }),
    ).toBe(false);
  });

  it('refuses keywords outside the subset', () => {
    expect(
      fitsStrictMode({ ...closed({ a: { type: 'string' } }), if: { properties: { a: { const: 'x' } } }, then: {} }),
    ).toBe(false);
    expect(fitsStrictMode(closed({ a: { not: { type: 'string' } } }))).toBe(false);
    expect(fitsStrictMode(closed({ a: { allOf: [{ type: 'string' }] } }))).toBe(false);
  });
});
