import { describe, expect, it } from '@jest/globals';
import {
  boundedJsonSchema,
  GRAMMAR_MAX_CHARS,
  GRAMMAR_MAX_ITEMS,
  grammarSchema,
  MIN_STRING_CHARS,
  worstCaseTokens,
} from './bounded-json-schema.js';

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

  it('leaves a classify schema (an enum) as it is', () => {
    const classify = {
      type: 'object',
      properties: { label: { enum: ['spam', 'ham'] } },
      required: ['label'],
      additionalProperties: false,
    };
    expect(boundedJsonSchema(classify, 32)).toEqual(classify);
  });

  it('bounds what a $ref points to like the rest of the schema', () => {
    const ref = { $defs: { a: { type: 'string' } }, $ref: '#/$defs/a' };
    expect(boundedJsonSchema(ref, 32)).toEqual({ type: 'string', maxLength: 26 });
  });

  it('never bounds past what llama.cpp parses, however large the output limit', () => {
    const summary = boundedJsonSchema({ type: 'object', properties: { s: { type: 'string' } } }, 8192) as any;
    expect(summary.properties.s.maxLength).toBe(GRAMMAR_MAX_CHARS);
    const flags = boundedJsonSchema({ type: 'array', items: { type: 'boolean' } }, 8192) as any;
    expect(flags.maxItems).toBe(GRAMMAR_MAX_ITEMS);
    for (let maxTokens = worstCaseTokens(invoice); maxTokens < 20_000; maxTokens += 211) {
      const text = JSON.stringify(boundedJsonSchema(invoice, maxTokens));
      for (const [, n] of text.matchAll(/"maxLength":(\d+)/g)) expect(Number(n)).toBeLessThanOrEqual(GRAMMAR_MAX_CHARS);
      for (const [, n] of text.matchAll(/"maxItems":(\d+)/g)) expect(Number(n)).toBeLessThanOrEqual(GRAMMAR_MAX_ITEMS);
    }
  });

  it("lowers the task's own bounds above that limit, and a minimum above it leaves the length to the check", () => {
    const schema = {
      type: 'object',
      properties: {
        body: { type: 'string', maxLength: 5000 },
        essay: { type: 'string', minLength: 3000, maxLength: 4000 },
        ids: { type: 'array', items: { type: 'integer' }, maxItems: 5000 },
      },
    };
    const bounded = boundedJsonSchema(schema, 256) as any;
    expect(bounded.properties.body).toEqual({ type: 'string', maxLength: GRAMMAR_MAX_CHARS });
    expect(bounded.properties.essay).toEqual({ type: 'string', minLength: GRAMMAR_MAX_CHARS });
    expect(bounded.properties.ids.maxItems).toBe(GRAMMAR_MAX_ITEMS);
  });

  it('keeps a floor when the limit cannot hold the fixed part (the answer may then be cut off, reported so)', () => {
    const bounded = boundedJsonSchema(invoice, 16) as any;
    expect(bounded.properties.number.maxLength).toBe(MIN_STRING_CHARS);
    expect(bounded.properties.lines.maxItems).toBe(1);
  });
});

/** node-llama-cpp's way of allowing any JSON value, as grammarSchema spells it. */
const anyValue = {
  oneOf: [
    { type: 'string' },
    { type: 'number' },
    { type: 'boolean' },
    { type: 'null' },
    { type: 'array' },
    { type: 'object', additionalProperties: true },
  ],
};

// node-llama-cpp reads what it does not recognise as `null`: these are the schemas where that forced wrong answers.
describe('grammarSchema', () => {
  it("lets a field written with anyOf (pydantic's Optional[str]) hold a string, not only null", () => {
    const optional = { anyOf: [{ type: 'string' }, { type: 'null' }], default: null, title: 'Vendor' };
    expect(grammarSchema(optional)).toEqual({ oneOf: [{ type: 'string' }, { type: 'null' }] });
  });

  it('reads a node with properties and no type as an object', () => {
    expect(grammarSchema({ properties: { total: { type: 'number' } }, required: ['total'] })).toEqual({
      type: 'object',
      properties: { total: { type: 'number' } },
      required: ['total'],
    });
  });

  it('drops the formats the grammar would write as "" (the check still asserts them), keeps date and time', () => {
    const schema = {
      type: 'object',
      properties: { email: { type: 'string', format: 'email' }, due: { type: 'string', format: 'date' } },
    };
    const before = JSON.stringify(schema);
    expect(grammarSchema(schema).properties).toEqual({
      email: { type: 'string' },
      due: { type: 'string', format: 'date' },
    });
    expect(JSON.stringify(schema)).toBe(before);
  });

  it('lets an object without properties, or needing more than it lists, hold extra properties', () => {
    expect(grammarSchema({ type: 'object' })).toEqual({ type: 'object', additionalProperties: true });
    expect(grammarSchema({ type: 'object', properties: { a: { type: 'integer' } }, minProperties: 2 })).toMatchObject({
      additionalProperties: true,
    });
    expect(
      grammarSchema({ type: 'object', additionalProperties: { type: 'integer' }, required: ['id'] }).properties,
    ).toEqual({ id: { type: 'integer' } });
    const closed = { type: 'object', properties: { a: { type: 'integer' } } };
    expect(grammarSchema(closed)).toEqual(closed);
  });

  it("merges a node's own keywords into each alternative of its anyOf", () => {
    const either = {
      type: 'object',
      properties: { email: { type: 'string' }, phone: { type: 'string' } },
      anyOf: [{ required: ['email'] }, { required: ['phone'] }],
    };
    const alternatives = grammarSchema(either).oneOf as any[];
    expect(alternatives).toHaveLength(2);
    for (const alternative of alternatives) {
      expect(alternative).toMatchObject({ type: 'object', properties: either.properties });
    }
  });

  it('inlines $refs (into $defs, definitions or anywhere in the schema) and merges allOf members', () => {
    const address = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const schema = {
      type: 'object',
      properties: {
        billing: { $ref: '#/$defs/Address' },
        shipping: { allOf: [{ $ref: '#/$defs/Address' }], description: 'pydantic v2 wraps a described $ref' },
        legacy: { $ref: '#/definitions/Address' },
        same: { $ref: '#/properties/billing' },
        extended: { allOf: [{ $ref: '#/$defs/Address' }, { properties: { zip: { type: 'string' } } }] },
      },
      $defs: { Address: address },
      definitions: { Address: address },
    };
    const read = grammarSchema(schema) as any;
    expect(read.$defs).toBeUndefined();
    for (const key of ['billing', 'legacy', 'same']) expect(read.properties[key]).toEqual(address);
    expect(read.properties.shipping).toMatchObject(address);
    expect(read.properties.extended).toEqual({
      type: 'object',
      properties: { city: { type: 'string' }, zip: { type: 'string' } },
      required: ['city'],
    });
  });

  it('reads what the grammar cannot say as any value, never as null', () => {
    const unsayable = [
      {},
      { description: 'anything' },
      { not: { type: 'null' } },
      { if: { type: 'string' }, then: { minLength: 2 } },
      { allOf: [{ type: 'string' }, { type: 'integer' }] },
      { $ref: '#/$defs/missing' },
      { $ref: 'https://example.com/schema.json' },
    ];
    for (const schema of unsayable) expect(grammarSchema(schema)).toEqual(anyValue);
    // A cycle (refused at submission) ends in any value rather than recursing without end.
    const cyclic = grammarSchema({ type: 'object', properties: { next: { $ref: '#' } } }) as any;
    expect(cyclic.properties.next).toEqual(anyValue);
    expect(grammarSchema({ type: 'object', properties: { a: true } }).properties).toEqual({ a: anyValue });
  });

  it('inlines a reference used twice side by side, and stops inlining a schema that grows without end', () => {
    const twice = grammarSchema({
      type: 'object',
      properties: { from: { $ref: '#/$defs/Party' }, to: { $ref: '#/$defs/Party' } },
      allOf: [{ $ref: '#/$defs/Tagged' }, { $ref: '#/$defs/Tagged' }],
      $defs: { Party: { type: 'string' }, Tagged: { properties: { tag: { type: 'string' } } } },
    });
    expect(twice.properties).toEqual({ from: { type: 'string' }, to: { type: 'string' }, tag: { type: 'string' } });
    // 2^25 nodes once inlined: each level refers to the one below twice.
    const $defs: Record<string, unknown> = { d0: { type: 'string' } };
    for (let i = 1; i <= 25; i++) {
      const below = { $ref: `#/$defs/d${i - 1}` };
      $defs[`d${i}`] = { type: 'object', properties: { a: below, b: below } };
    }
    const started = Date.now();
    const text = JSON.stringify(boundedJsonSchema({ $ref: '#/$defs/d25', $defs }, 512));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(text.length).toBeLessThan(10_000_000);
    expect(text).toContain(JSON.stringify(anyValue.oneOf[5]));
  });

  it('leaves out a property whose schema is false and items past a closed prefix', () => {
    expect(grammarSchema({ type: 'object', properties: { a: { type: 'integer' }, b: false } }).properties).toEqual({
      a: { type: 'integer' },
    });
    expect(grammarSchema({ type: 'array', prefixItems: [{ type: 'integer' }], items: false })).toEqual({
      type: 'array',
      prefixItems: [{ type: 'integer' }],
      maxItems: 1,
    });
  });

  it('spells out objects and arrays in const and enum, which node-llama-cpp cannot take as literals', () => {
    expect(grammarSchema({ const: { unit: 'kg', dims: [1, 2] } })).toEqual({
      type: 'object',
      properties: {
        unit: { const: 'kg' },
        dims: { type: 'array', prefixItems: [{ const: 1 }, { const: 2 }], maxItems: 2 },
      },
      additionalProperties: false,
    });
    expect(grammarSchema({ enum: ['none', [0, 0]] })).toEqual({
      oneOf: [{ const: 'none' }, { type: 'array', prefixItems: [{ const: 0 }, { const: 0 }], maxItems: 2 }],
    });
  });

  it('reads its own output as it is', () => {
    const schemas = [invoice, { anyOf: [{ type: 'string' }, { type: 'null' }] }, { type: 'object' }, {}];
    for (const schema of schemas) expect(grammarSchema(grammarSchema(schema))).toEqual(grammarSchema(schema));
  });
});
