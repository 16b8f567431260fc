import { describe, expect, it } from '@jest/globals';
import { splitAtTopLevelDeclarations } from './declaration-splitter.js';

/** One token per 4 characters, as the routing estimates count. */
const approx = (text: string) => Math.ceil(text.length / 4);
/** One token per line: makes chunk sizes easy to read in a test. */
const perLine = (text: string) => text.split('\n').length - 1;

const source = [
  '#!/usr/bin/env node',
  "'use strict';",
  "import { a } from './a.js';",
  "import type { B } from './b.js'; // types only",
  "export { c } from './c.js';",
  '',
  '/** The answer. */',
  'export const answer = 42;',
  '',
  '// Adds.',
  'export function add(x: number, y: number): number {',
  '  return x + y;',
  '}',
  '',
  'export class Box<T> {',
  '  constructor(readonly value: T) {}',
  '}',
  'const x = 1; const y = 2; /* same line */',
  '// trailing comment at the end of the file',
  '',
].join('\n');

describe('splitAtTopLevelDeclarations', () => {
  it('reassembles to exactly the input, for every chunk size', () => {
    for (let max = 1; max <= 200; max++) {
      expect(splitAtTopLevelDeclarations('src/a.ts', source, max, approx).join('')).toBe(source);
    }
  });

  it('keeps the import header, comments included, together in the first chunk', () => {
    const chunks = splitAtTopLevelDeclarations('src/a.ts', source, 1, perLine);
    expect(chunks[0]).toBe(source.slice(0, source.indexOf('export { c }')));
    expect(chunks[0]).toMatch(/^#!\/usr\/bin\/env node\n'use strict';\n/);
    expect(chunks[0]).toMatch(/\/\/ types only\n$/);
    // A re-export after the last import is an ordinary statement: a barrel file of them still splits.
    expect(chunks[1]).toBe("export { c } from './c.js';\n");
  });

  it('keeps a doc comment with the declaration after it, and a same-line comment with the statement before it', () => {
    const chunks = splitAtTopLevelDeclarations('src/a.ts', source, 1, perLine);
    expect(chunks).toContain('\n/** The answer. */\nexport const answer = 42;\n');
    expect(chunks).toContain('\n// Adds.\nexport function add(x: number, y: number): number {\n  return x + y;\n}\n');
    expect(chunks.at(-2)).toBe('const x = 1; ');
    expect(chunks.at(-1)).toBe('const y = 2; /* same line */\n// trailing comment at the end of the file\n');
  });

  it('fills chunks up to the limit and no further', () => {
    const file = Array.from({ length: 10 }, (_, i) => `export const v${i} = ${i};\n`).join('');
    const chunks = splitAtTopLevelDeclarations('a.ts', file, 3, perLine);
    expect(chunks.map(perLine)).toEqual([3, 3, 3, 1]);
  });

  it('gives a statement larger than the limit a chunk of its own', () => {
    const big = `export function big() {\n${'  work();\n'.repeat(20)}}\n`;
    const file = `const a = 1;\n${big}const b = 2;\n`;
    const chunks = splitAtTopLevelDeclarations('a.js', file, 5, perLine);
    expect(chunks).toEqual(['const a = 1;\n', big, 'const b = 2;\n']);
  });

  it('splits JSX files and CRLF files at statements too', () => {
    const jsx =
      'import React from "react";\r\n\r\nexport const A = () => <div>a</div>;\r\nexport const B = () => <div>b</div>;\r\n';
    const chunks = splitAtTopLevelDeclarations('App.jsx', jsx, 1, perLine);
    expect(chunks).toEqual([
      'import React from "react";\r\n',
      '\r\nexport const A = () => <div>a</div>;\r\n',
      'export const B = () => <div>b</div>;\r\n',
    ]);
  });

  it('still reassembles exactly when the file does not parse', () => {
    const broken = 'export const a = ;\nfunction f( {\nconst b = 2;\n';
    expect(splitAtTopLevelDeclarations('a.ts', broken, 1, perLine).join('')).toBe(broken);
  });

  it('splits other files at line breaks', () => {
    expect(splitAtTopLevelDeclarations('a.py', 'a = 1\nb = 2\nc = 3', 2, (t) => t.split('\n').length)).toEqual([
      'a = 1\n',
      'b = 2\n',
      'c = 3',
    ]);
  });

  it('returns no chunks for an empty file and refuses a limit below one token', () => {
    expect(splitAtTopLevelDeclarations('a.ts', '', 10, approx)).toEqual([]);
    expect(() => splitAtTopLevelDeclarations('a.ts', 'x', 0, approx)).toThrow(RangeError);
  });
});
