import { describe, expect, it } from '@jest/globals';
import { jsonSyntaxError, lineAndColumnAt } from './json-syntax-error.js';

const valid = [
  '{}',
  '[]',
  '0',
  '-0.5e+10',
  '"a\\u00e9\\n"',
  'true',
  ' null ',
  '{"a": [1, {"b": false}], "c": "d"}',
  '\n[\n 1,\n 2\n]\n',
];
const invalid: [string, number, string][] = [
  ['', 0, 'unexpected end of input'],
  ['{"a": }', 6, 'value expected'],
  ['{"a": 1,}', 8, 'property name in double quotes expected'],
  ["{'a': 1}", 1, 'property name in double quotes expected'],
  ['[1 2]', 3, "',' or ']' expected"],
  ['{"a" 1}', 5, "':' expected after the property name"],
  ['01', 1, 'unexpected text after the JSON value'],
  ['"a\tb"', 2, 'control character in string'],
  ['"\\x"', 1, 'invalid escape in string'],
  ['[1, 2', 5, 'unexpected end of input'],
  ['NaN', 0, 'value expected'],
  ['{} {}', 3, 'unexpected text after the JSON value'],
];

describe('jsonSyntaxError', () => {
  it('agrees with JSON.parse on valid JSON', () => {
    for (const text of valid) {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(jsonSyntaxError(text)).toBeNull();
    }
  });

  it('locates the first error of invalid JSON, which JSON.parse also rejects', () => {
    for (const [text, offset, message] of invalid) {
      expect(() => JSON.parse(text)).toThrow();
      expect(jsonSyntaxError(text)).toEqual({ offset, message });
    }
  });
});

describe('lineAndColumnAt', () => {
  it('counts lines and columns from 1', () => {
    expect(lineAndColumnAt('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineAndColumnAt('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
