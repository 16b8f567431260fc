import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Llama } from 'node-llama-cpp';
import { boundedJsonSchema, GRAMMAR_MAX_CHARS, GRAMMAR_MAX_ITEMS } from './bounded-json-schema.js';
import { keptEngineLog } from './engine-log.js';
import { openLlama } from './local-model-provider.js';

// node-llama-cpp's grammar from boundedJsonSchema, parsed by the bundled llama.cpp and matched against answers
// without a model (LlamaGrammar's internal _testText: is the text a whole answer of the grammar).
describe("boundedJsonSchema under node-llama-cpp's JSON-schema grammar", () => {
  let llama: Llama;
  // The grammars refused below make llama.cpp log them, after the refusal: kept here, off jest's console.
  const engineLog = keptEngineLog();

  beforeAll(async () => {
    llama = await openLlama(false, 1, engineLog.logger);
  });

  afterAll(async () => {
    await llama?.dispose();
  });

  const grammarOf = (schema: Record<string, unknown>, maxTokens: number) =>
    llama.createGrammarForJsonSchema(boundedJsonSchema(schema, maxTokens) as never);

  /** Whether the grammar lets the model write `answer` (as compact JSON, then the grammar's closing newlines). */
  const allows = async (schema: Record<string, unknown>, answer: unknown, maxTokens = 256): Promise<boolean> => {
    const grammar = (await grammarOf(schema, maxTokens)) as unknown as { _testText(text: string): boolean };
    return grammar._testText(`${JSON.stringify(answer)}\n\n\n\n`);
  };

  it.each([
    ['an anyOf (Optional[str])', { anyOf: [{ type: 'string' }, { type: 'null' }] }, 'ACME'],
    ['properties without a type', { properties: { total: { type: 'number' } } }, { total: 12.5 }],
    ['an email format', { type: 'object', properties: { to: { type: 'string', format: 'email' } } }, { to: 'a@b.co' }],
    ['a bare object', { type: 'object', properties: { meta: { type: 'object' } } }, { meta: { source: 'scan' } }],
    ['the empty schema (an extract task without one)', {}, { anything: [1, 'two'] }],
    [
      'an allOf of a $ref and more properties',
      {
        $defs: { Party: { type: 'object', properties: { name: { type: 'string' } } } },
        allOf: [{ $ref: '#/$defs/Party' }, { properties: { vat: { type: 'string' } } }],
      },
      { name: 'ACME', vat: 'DE1' },
    ],
    [
      'a $ref into definitions (zod-to-json-schema)',
      { definitions: { Id: { type: 'integer' } }, type: 'array', items: { $ref: '#/definitions/Id' } },
      [1, 2],
    ],
    ['an object in const', { const: { unit: 'kg' } }, { unit: 'kg' }],
  ])('lets the model write what %s allows', async (_what, schema, answer) => {
    expect(await allows(schema, answer)).toBe(true);
  });

  it('still refuses what the schema rules out', async () => {
    const invoice = { type: 'object', properties: { total: { type: 'integer' }, kind: { enum: ['a', 'b'] } } };
    expect(await allows(invoice, { total: 3, kind: 'a' })).toBe(true);
    expect(await allows(invoice, { total: 'three', kind: 'a' })).toBe(false);
    expect(await allows(invoice, { total: 3, kind: 'c' })).toBe(false);
    expect(await allows({ anyOf: [{ type: 'string' }, { type: 'null' }] }, 3)).toBe(false);
  });

  it('parses at every output limit, with strings and arrays still bounded where the limit is large', async () => {
    const shapes: Array<Record<string, unknown>> = [
      { type: 'string' },
      { type: 'object', properties: { summary: { type: 'string' } } },
      { type: 'array', items: { type: 'boolean' } },
      { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer' } } } },
      { type: 'array', prefixItems: [{ type: 'string', maxLength: 3 }], items: { type: 'integer' } },
    ];
    for (const maxTokens of [16, 256, 1100, 1500, 2100, 4096, 8192]) {
      for (const schema of shapes) await expect(grammarOf(schema, maxTokens)).resolves.toBeDefined();
    }
    const summary = { type: 'object', properties: { summary: { type: 'string' } } };
    expect(await allows(summary, { summary: 'x'.repeat(GRAMMAR_MAX_CHARS) }, 8192)).toBe(true);
    expect(await allows(summary, { summary: 'x'.repeat(GRAMMAR_MAX_CHARS + 1) }, 8192)).toBe(false);
    const flags = { type: 'array', items: { type: 'boolean' } };
    expect(await allows(flags, Array(GRAMMAR_MAX_ITEMS).fill(true), 8192)).toBe(true);
    expect(await allows(flags, Array(GRAMMAR_MAX_ITEMS + 1).fill(true), 8192)).toBe(false);
  });

  it("holds bounds to what llama.cpp parses in node-llama-cpp's tightest shapes, and close to it", async () => {
    const parses = (schema: Record<string, unknown>) =>
      llama.createGrammarForJsonSchema(schema as never).then(
        () => true,
        () => false,
      );
    const lone = (maxLength: number) => ({ type: 'string', maxLength });
    expect(await parses(lone(GRAMMAR_MAX_CHARS))).toBe(true);
    expect(await parses(lone(GRAMMAR_MAX_CHARS + 1))).toBe(false);
    const tuple = (maxItems: number) => ({ type: 'array', prefixItems: [{ type: 'string' }], items: {}, maxItems });
    const map = (maxProperties: number) => ({
      type: 'object',
      properties: { a: { type: 'integer' } },
      additionalProperties: { type: 'integer' },
      maxProperties,
    });
    for (const shape of [tuple, map]) {
      expect(await parses(shape(GRAMMAR_MAX_ITEMS))).toBe(true);
      expect(await parses(shape(GRAMMAR_MAX_ITEMS + 2))).toBe(false);
    }
  });

  it("parses a task's own bounds above what llama.cpp holds", async () => {
    const schemas: Array<Record<string, unknown>> = [
      { type: 'string', maxLength: 1500 },
      { type: 'string', minLength: 1500 },
      { type: 'array', items: { type: 'integer' }, maxItems: 1500 },
      { type: 'array', items: { type: 'integer' }, minItems: 2500 },
      { type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: true, maxProperties: 1500 },
    ];
    for (const schema of schemas) await expect(grammarOf(schema, 256)).resolves.toBeDefined();
    expect(await allows({ type: 'string', minLength: 1500 }, 'x'.repeat(1500))).toBe(true);
  });
});
