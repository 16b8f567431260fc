import { describe, expect, it } from '@jest/globals';
import { batchFromFolder, looksBinary } from './batch-input.js';

const files = [
  { path: 'src/b.js', text: 'module.exports = 2;' },
  { path: 'src/a.js', text: 'module.exports = 1;' },
];

describe('batchFromFolder', () => {
  it('makes a code migration, files in path order, when an instruction or preset is given', () => {
    expect(batchFromFolder(files, { preset: 'commonjs-to-esm', sensitivity: 'confidential' })).toEqual({
      kind: 'code-migration',
      sensitivity: 'confidential',
      deadline: 'P1D',
      task: { preset: 'commonjs-to-esm' },
      items: [
        { path: 'src/a.js', content: 'module.exports = 1;' },
        { path: 'src/b.js', content: 'module.exports = 2;' },
      ],
    });
  });

  it('makes documents otherwise, each named by its path, with the task asked for', () => {
    const body = batchFromFolder(files, { task: 'classify', labels: ['x', 'y'], deadline: 'PT2H', maxCostUsd: 1 });
    expect(body).toMatchObject({
      kind: 'document-processing',
      deadline: 'PT2H',
      maxCostUsd: 1,
      task: { type: 'classify', labels: ['x', 'y'] },
    });
    expect(body.items).toEqual([
      { id: 'src/a.js', text: 'module.exports = 1;' },
      { id: 'src/b.js', text: 'module.exports = 2;' },
    ]);
  });

  it('refuses an empty folder instead of posting an empty batch', () => {
    expect(() => batchFromFolder([], {})).toThrow(/no files matched/);
  });
});

describe('looksBinary', () => {
  it('spots a NUL byte as git does', () => {
    expect(looksBinary(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0]))).toBe(true);
    expect(looksBinary(new TextEncoder().encode('plain text'))).toBe(false);
  });
});
