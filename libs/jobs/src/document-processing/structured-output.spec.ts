import { describe, expect, it } from '@jest/globals';
import type { DocumentTask } from '#libs/batches/src/batch-types.js';
import { jsonSchemaForTask, UnsupportedSchemaError, validateStructured } from './structured-output.js';

const classify: DocumentTask = { type: 'classify', labels: ['spam', 'ham'] };
const invoice: DocumentTask = {
  type: 'extract',
  schema: {
    type: 'object',
    properties: {
      number: { type: 'string' },
      total: { type: 'number', minimum: 0 },
      lines: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer' } }, required: ['sku', 'qty'] } },
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
      expect(validateStructured(classify, '{"label": "spam"}')).toEqual({ ok: true, value: { label: 'spam' } });
      expect(validateStructured(classify, '```json\n{"label": "ham"}\n```')).toEqual({ ok: true, value: { label: 'ham' } });
    });

    it('accepts the bare label the single-document prompt asks for', () => {
      expect(validateStructured(classify, ' ham\n')).toEqual({ ok: true, value: { label: 'ham' } });
      expect(validateStructured(classify, '"spam"')).toEqual({ ok: true, value: { label: 'spam' } });
    });

    it('names the path of a label outside the set, a missing label and an extra property', () => {
      expect(failure(classify, '{"label": "eggs"}')).toBe('$.label: Invalid option: expected one of "spam"|"ham"');
      expect(failure(classify, '{}')).toBe('$.label: required property missing');
      expect(failure(classify, '{"label": "ham", "confidence": 0.9}')).toBe('$.confidence: property not allowed');
    });
  });

  describe('extract', () => {
    it('returns the parsed object when it matches the schema', () => {
      const answer = { number: 'INV-1', total: 12.5, lines: [{ sku: 'A', qty: 2 }], 'due date': '2025-01-31' };
      expect(validateStructured(invoice, JSON.stringify(answer))).toEqual({ ok: true, value: answer });
    });

    it('names the JSON path of each failure, nested ones and odd keys included', () => {
      const answer = { number: 'INV-1', total: -1, lines: [{ sku: 'A', qty: 2 }, { sku: 'B', qty: 1.5 }], 'due date': 'soon' };
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

    it('refuses a schema it cannot check with an error of its own, not as a bad answer', () => {
      const conditional: DocumentTask = { type: 'extract', schema: { if: { type: 'object' }, then: { required: ['a'] } } };
      expect(() => validateStructured(conditional, '{}')).toThrow(UnsupportedSchemaError);
    });
  });

  it('takes a summary as its trimmed text', () => {
    expect(validateStructured({ type: 'summarize' }, '  The board met.\n')).toEqual({ ok: true, value: 'The board met.' });
  });
});
