import { describe, expect, it } from '@jest/globals';
import type { DocumentTask } from '#libs/domain';
import { jsonSchemaForTask, schemaProblem, UnsupportedSchemaError, validateStructured } from './structured-output.js';

const classify: DocumentTask = { type: 'classify', labels: ['spam', 'ham'] };
const invoice: DocumentTask = {
  type: 'extract',
  schema: {
    type: 'object',
    properties: {
      number: { type: 'string' },
      total: { type: 'number', minimum: 0 },
      lines: {
        type: 'array',
        items: {
          type: 'object',
          properties: { sku: { type: 'string' }, qty: { type: 'integer' } },
          required: ['sku', 'qty'],
        },
      },
      'due date': { type: 'string', format: 'date' },
    },
    required: ['number', 'total'],
  },
};

function failure(task: DocumentTask, text: string): string {
  const result = validateStructured(task, text);
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.value)}`);
  return result.message;
}

describe('jsonSchemaForTask', () => {
  it('asks a classify answer for exactly one label and nothing else', () => {
    expect(jsonSchemaForTask(classify)).toEqual({
      type: 'object',
      properties: { label: { enum: ['spam', 'ham'] } },
      required: ['label'],
      additionalProperties: false,
    });
  });

  it("uses an extract task's own schema, and none for summarize", () => {
    expect(jsonSchemaForTask(invoice)).toBe(invoice.schema);
    expect(jsonSchemaForTask({ type: 'summarize' })).toBeNull();
  });
});

describe('validateStructured', () => {
  describe('classify', () => {
    it('accepts {"label": …} with a label from the set, fenced or not', () => {
      expect(validateStructured(classify, '{"label": "spam"}')).toMatchObject({ ok: true, value: { label: 'spam' } });
      const fenced = validateStructured(classify, '```json\n{"label": "ham"}\n```');
      expect(fenced).toMatchObject({ ok: true, value: { label: 'ham' } });
    });

    it('accepts the bare label the single-document prompt asks for', () => {
      expect(validateStructured(classify, ' ham\n')).toMatchObject({ ok: true, value: { label: 'ham' } });
      expect(validateStructured(classify, '"spam"')).toMatchObject({ ok: true, value: { label: 'spam' } });
    });

    it('names the path of a label outside the set, a missing label and an extra property', () => {
      expect(failure(classify, '{"label": "eggs"}')).toBe('$.label: must be one of "spam"|"ham"');
      expect(failure(classify, '{}')).toBe('$.label: required property missing');
      expect(failure(classify, '{"label": "ham", "confidence": 0.9}')).toBe('$.confidence: property not allowed');
    });
  });

  describe('extract', () => {
    it('returns the parsed object when it matches the schema', () => {
      const answer = { number: 'INV-1', total: 12.5, lines: [{ sku: 'A', qty: 2 }], 'due date': '2025-01-31' };
      expect(validateStructured(invoice, JSON.stringify(answer))).toMatchObject({ ok: true, value: answer });
    });

    it('names the JSON path of each failure, nested ones and odd keys included', () => {
      const answer = {
        number: 'INV-1',
        total: -1,
        lines: [
          { sku: 'A', qty: 2 },
          { sku: 'B', qty: 1.5 },
        ],
        'due date': 'soon',
      };
      const message = failure(invoice, JSON.stringify(answer));
      expect(message).toContain('$.total: ');
      expect(message).toContain('$.lines[1].qty: ');
      expect(message).toContain('$["due date"]: ');
      expect(message.split('; ')).toHaveLength(3);
    });

    it('reports a missing required property by its path', () => {
      expect(failure(invoice, '{"number": "INV-1"}')).toBe('$.total: required property missing');
    });

    it('says where an answer stops being JSON', () => {
      expect(failure(invoice, '{"number": "INV-1",\n "total": }')).toBe('not JSON: line 2:11: value expected');
      expect(failure(invoice, 'The invoice number is INV-1.')).toBe('not JSON: line 1:1: value expected');
      expect(failure(invoice, '```json\n{"number": "INV-1"')).toMatch(/never closes/);
    });

    it('refuses a schema it cannot compile with an error of its own, not as a bad answer', () => {
      const broken: DocumentTask = {
        type: 'extract',
        schema: { type: 'object', properties: { a: { $ref: '#/$defs/missing' } } },
      };
      expect(() => validateStructured(broken, '{}')).toThrow(UnsupportedSchemaError);
      expect(schemaProblem({ type: 'nonsense' })).toMatch(/type/);
      expect(schemaProblem(invoice.schema!)).toBeNull();
    });

    // Issue 13 §4: {"$ref": "#"} overflowed the stack on every answer, 5 paid attempts, nothing logged.
    it('turns a checker that throws (a recursive schema overflowing the stack) into UnsupportedSchemaError', () => {
      const recursive: DocumentTask = { type: 'extract', schema: { $ref: '#' } };
      expect(() => validateStructured(recursive, '{"a": 1}')).toThrow(UnsupportedSchemaError);
      expect(() => validateStructured(recursive, '{"a": 1}')).toThrow(/could not check the answer: RangeError/);
    });

    it('checks conditional and negated schemas, which a subset reader would refuse', () => {
      const shipping: DocumentTask = {
        type: 'extract',
        schema: {
          type: 'object',
          properties: { country: { type: 'string' }, zip: { type: 'string' } },
          if: { properties: { country: { const: 'US' } } },
          then: { required: ['zip'] },
          not: { required: ['po box'] },
        },
      };
      expect(validateStructured(shipping, '{"country": "FR"}')).toMatchObject({ ok: true, value: { country: 'FR' } });
      expect(failure(shipping, '{"country": "US"}')).toContain('$.zip: required property missing');
      expect(failure(shipping, '{"country": "FR", "po box": "1"}')).toBe('$: must NOT be valid');
    });

    it('names a property not allowed by additionalProperties or unevaluatedProperties, odd keys quoted', () => {
      const closed: DocumentTask = {
        type: 'extract',
        schema: { type: 'object', properties: { a: { type: 'number' } }, additionalProperties: false },
      };
      expect(failure(closed, '{"a": 1, "a key": 2}')).toBe('$["a key"]: property not allowed');
      const unevaluated: DocumentTask = {
        type: 'extract',
        schema: { allOf: [{ properties: { a: {} } }], unevaluatedProperties: false },
      };
      expect(failure(unevaluated, '{"a": 1, "b/c": 2}')).toBe('$["b/c"]: property not allowed');
    });

    it('reports at most three issues and counts the rest', () => {
      const prices: DocumentTask = {
        type: 'extract',
        schema: {
          type: 'object',
          properties: {
            items: { type: 'array', items: { type: 'object', properties: { price: { type: 'number' } } } },
          },
        },
      };
      const answer = { items: ['1', '2', '3', '4', '5'].map((price) => ({ price })) };
      expect(failure(prices, JSON.stringify(answer))).toBe(
        '$.items[0].price: must be number; $.items[1].price: must be number; $.items[2].price: must be number (+2 more)',
      );
    });

    it('treats numeric keys of an object as keys, not indexes', () => {
      const byYear: DocumentTask = {
        type: 'extract',
        schema: { type: 'object', additionalProperties: { type: 'integer' } },
      };
      expect(failure(byYear, '{"2024": "many"}')).toBe('$["2024"]: must be integer');
    });

    describe('numbers JSON cannot hold as given', () => {
      const payment: DocumentTask = {
        type: 'extract',
        schema: {
          type: 'object',
          properties: {
            amountEuros: { type: 'number' },
            ref: { type: 'integer' },
            parts: { type: 'array', items: { type: 'number' } },
          },
          required: ['amountEuros'],
        },
      };

      it('refuses an overflowing number (JSON.parse makes 9e879 Infinity, stored as null) with its path', () => {
        expect(failure(payment, '{"amountEuros": 9e879}')).toBe('$.amountEuros: number overflows (not finite)');
        expect(failure(payment, '{"amountEuros": -1e999}')).toBe('$.amountEuros: number overflows (not finite)');
        const inArray = failure(payment, '{"amountEuros": 1, "parts": [2, 1e400]}');
        expect(inArray).toBe('$.parts[1]: number overflows (not finite)');
      });

      it('refuses an integer past 2^53, whose digits JSON.parse loses', () => {
        const unsafe = ': integer outside the safe range (±2^53−1)';
        expect(failure(payment, `{"amountEuros": 1, "ref": ${2 ** 60}}`)).toBe(`$.ref${unsafe}`);
        expect(failure(payment, '{"amountEuros": 12345678901234567890}')).toBe(`$.amountEuros${unsafe}`);
        expect(validateStructured(payment, `{"amountEuros": 1, "ref": ${Number.MAX_SAFE_INTEGER}}`).ok).toBe(true);
      });

      it('reports the overflow with the schema issues of the same answer', () => {
        const both = failure(payment, '{"amountEuros": 9e879, "ref": 1.5}');
        expect(both).toBe('$.amountEuros: number overflows (not finite); $.ref: must be integer');
      });

      it('gives the exact text to store, which parses back to the value it checked', () => {
        const answer = validateStructured(payment, '```json\n{ "amountEuros": 12.50, "parts": [1e2] }\n```');
        const value = { amountEuros: 12.5, parts: [100] };
        expect(answer).toEqual({ ok: true, value, stored: '{"amountEuros":12.5,"parts":[100]}' });
        const label = validateStructured(classify, ' ham\n');
        expect(label).toEqual({ ok: true, value: { label: 'ham' }, stored: '{"label":"ham"}' });
      });
    });

    it('checks schemas it does not fully know and tasks sharing an $id', () => {
      const annotated = {
        $id: 'https://example.com/invoice',
        type: 'object',
        'x-vendor': true,
        properties: { n: { type: 'string' } },
        required: ['n'],
      };
      const first: DocumentTask = { type: 'extract', schema: annotated };
      const second: DocumentTask = { type: 'extract', schema: { ...annotated } };
      expect(failure(first, '{}')).toBe('$.n: required property missing');
      expect(validateStructured(second, '{"n": "1"}')).toMatchObject({ ok: true, value: { n: '1' } });
    });
  });

  it('takes a summary as its trimmed text', () => {
    const summary = validateStructured({ type: 'summarize' }, '  The board met.\n');
    expect(summary).toEqual({ ok: true, value: 'The board met.', stored: 'The board met.' });
  });
});
