import { describe, expect, it } from '@jest/globals';
import { boundedJsonSchema, MIN_STRING_CHARS, worstCaseTokens } from './bounded-json-schema.js';

const invoice = {
  type: 'object',
  properties: {
    number: { type: 'string' },
    customer: { type: 'object', properties: { name: { type: 'string' }, vatId: { type: ['string', 'null'] } } },
    total: { type: 'number' },
    paid: { type: 'boolean' },
    lines: {
      type: 'array',
      items: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer' } } },
    },
    tags: { type: 'array', items: { enum: ['urgent', 'late'] } },
  },
  required: ['number', 'total'],
};

describe('boundedJsonSchema', () => {
  it('bounds every unbounded string and array of an extract schema so the whole answer fits the output limit', () => {
    for (let maxTokens = worstCaseTokens(invoice); maxTokens < 5000; maxTokens += 37) {
      const bounded = boundedJsonSchema(invoice, maxTokens);
      expect(worstCaseTokens(bounded)).toBeLessThanOrEqual(maxTokens);
      const text = JSON.stringify(bounded);
      expect(text).not.toMatch(/"type":"string"(?![^{}]*maxLength)/);
      expect(text.match(/"type":"array"/g)).toHaveLength((text.match(/maxItems/g) ?? []).length);
    }
  });

  it('gives strings a fair share: one field gets nearly the whole limit, and more limit means longer strings', () => {
    const one = boundedJsonSchema({ type: 'object', properties: { summary: { type: 'string' } } }, 256) as any;
    expect(one.properties.summary.maxLength).toBeGreaterThan(200);
    const small = boundedJsonSchema(invoice, 400) as any;
    const large = boundedJsonSchema(invoice, 4096) as any;
    expect(large.properties.number.maxLength).toBeGreaterThan(small.properties.number.maxLength);
    expect(large.properties.lines.maxItems).toBeGreaterThan(small.properties.lines.maxItems);
  });

  it('keeps what the task already bounds, its other keywords and the schema it was given', () => {
    const schema = {
      type: 'object',
      properties: {
        code: { type: 'string', maxLength: 3, pattern: '^[A-Z]+$' },
        ids: { type: 'array', items: { type: 'integer' }, maxItems: 2 },
        at: { type: 'string', format: 'date' },
      },
      required: ['code'],
    };
    const before = JSON.stringify(schema);
    expect(boundedJsonSchema(schema, 64)).toEqual(schema);
    expect(JSON.stringify(schema)).toBe(before);
    const withMinimum = boundedJsonSchema({ type: 'object', properties: { s: { type: 'string', minLength: 50 } } }, 32);
    expect((withMinimum as any).properties.s).toEqual({ type: 'string', minLength: 50, maxLength: 50 });
  });

  it('fills an array of fixed-size items with as many as fit', () => {
    const bounded = boundedJsonSchema({ type: 'array', items: { type: 'boolean' } }, 104) as any;
    // 100 tokens after the grammar's end: 2 brackets and a newline, then 11 an item (newline, 4 spaces,
    // comma, `false`).
    expect(bounded.maxItems).toBe(8);
    expect(worstCaseTokens(bounded)).toBeLessThanOrEqual(104);
  });

  it('splits a type list holding a string into alternatives, each bounded', () => {
    const bounded = boundedJsonSchema({ type: ['string', 'null'] }, 64);
    expect(bounded).toEqual({ oneOf: [{ type: 'string', maxLength: 58 }, { type: 'null' }] });
  });

  it('leaves a classify schema (an enum) and schemas it does not read as they are', () => {
    const classify = {
      type: 'object',
      properties: { label: { enum: ['spam', 'ham'] } },
      required: ['label'],
      additionalProperties: false,
    };
    expect(boundedJsonSchema(classify, 32)).toEqual(classify);
    expect(boundedJsonSchema({}, 32)).toEqual({});
    const ref = { $defs: { a: { type: 'string' } }, $ref: '#/$defs/a' };
    expect(boundedJsonSchema(ref, 32)).toEqual(ref);
  });

  it('keeps a floor when the limit cannot hold the fixed part (the answer may then be cut off, reported so)', () => {
    const bounded = boundedJsonSchema(invoice, 16) as any;
    expect(bounded.properties.number.maxLength).toBe(MIN_STRING_CHARS);
    expect(bounded.properties.lines.maxItems).toBe(1);
  });
});
