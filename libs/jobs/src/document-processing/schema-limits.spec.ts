import { describe, expect, it } from '@jest/globals';
import { MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MAX_SCHEMA_NODES, schemaRefusal } from './schema-limits.js';

const invoice = {
  type: 'object',
  $defs: {
    money: { type: 'number', minimum: 0 },
    line: { type: 'object', properties: { sku: { type: 'string' }, price: { $ref: '#/$defs/money' } } },
  },
  properties: {
    total: { $ref: '#/$defs/money' },
    lines: { type: 'array', items: { $ref: '#/$defs/line' } },
    // Property names are names, not keywords; enum values are data.
    pattern: { type: 'string', enum: [{ $ref: '#' }, 'x'] },
    $ref: { type: 'string' },
  },
};

describe('schemaRefusal', () => {
  it('accepts a schema with references that end, and property names that look like keywords', () => {
    expect(schemaRefusal(invoice)).toBeNull();
  });

  it.each([
    ['a reference to the whole schema', { $ref: '#' }, /refer to itself/],
    [
      'a reference to an ancestor',
      {
        type: 'object',
        properties: { child: { type: 'object', properties: { again: { $ref: '#/properties/child' } } } },
      },
      /refer to itself/,
    ],
    [
      'a cycle through $defs',
      { $defs: { a: { $ref: '#/$defs/b' }, b: { properties: { x: { $ref: '#/$defs/a' } } } }, $ref: '#/$defs/a' },
      /refer to itself/,
    ],
    [
      '$dynamicRef',
      { $dynamicAnchor: 'node', properties: { kids: { items: { $dynamicRef: '#node' } } } },
      /\$dynamicRef/,
    ],
    [
      '$recursiveRef',
      { $recursiveAnchor: true, properties: { kids: { items: { $recursiveRef: '#' } } } },
      /\$recursiveRef/,
    ],
    ['a remote reference', { $ref: 'https://example.com/schema.json' }, /only "#" or "#\/…"/],
    ['an anchor reference', { $defs: { a: { $anchor: 'a' } }, $ref: '#a' }, /only "#" or "#\/…"/],
    ['a reference to nothing', { properties: { a: { $ref: '#/$defs/missing' } } }, /refers to nothing/],
    ['a nested $id', { properties: { a: { $id: 'other', type: 'string' } } }, /nested "\$id"/],
    ['a pattern', { type: 'string', pattern: '^(a+)+$' }, /"pattern" .* not supported/],
    [
      'patternProperties',
      { type: 'object', patternProperties: { '^x': { type: 'string' } } },
      /"patternProperties" .* not supported/,
    ],
    [
      'a pattern deep inside',
      { properties: { a: { items: { anyOf: [{ pattern: 'a' }] } } } },
      /"pattern" at \/properties\/a\/items\/anyOf\/0\/pattern/,
    ],
  ])('refuses %s', (_, schema, why) => {
    expect(schemaRefusal(schema)).toMatch(why);
  });

  it('refuses a schema over the size, depth and node limits, cheaply', () => {
    const big = {
      type: 'object',
      properties: Object.fromEntries(
        Array.from({ length: 3000 }, (_, i) => [`field_${i}`, { type: 'string', description: 'x'.repeat(20) }]),
      ),
    };
    expect(JSON.stringify(big).length).toBeGreaterThan(MAX_SCHEMA_BYTES);
    const started = Date.now();
    expect(schemaRefusal(big)).toMatch(/bytes as JSON/);
    expect(Date.now() - started).toBeLessThan(200);

    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < MAX_SCHEMA_DEPTH; i++) deep = { type: 'object', properties: { a: deep } };
    expect(schemaRefusal(deep)).toMatch(/nests deeper than/);

    const wide = { anyOf: Array.from({ length: MAX_SCHEMA_NODES }, () => ({})) };
    expect(schemaRefusal(wide)).toMatch(/more than 2000 objects/);
  });
});
