import { describe, expect, it } from '@jest/globals';
import { globMatcher, globToRegExp } from './path-glob.js';

describe('globMatcher', () => {
  it('matches `**` across segments, `*` within one, `?` and `{a,b}`', () => {
    const m = globMatcher(['src/**/*.{js,jsx}', 'README.?d']);
    expect(m('src/a.js')).toBe(true);
    expect(m('src/deep/er/b.jsx')).toBe(true);
    expect(m('src/a.ts')).toBe(false);
    expect(m('lib/src/a.js')).toBe(false);
    expect(m('README.md')).toBe(true);
    expect(m('README.mdx')).toBe(false);
  });

  it('keeps `*` inside one segment and dots literal', () => {
    expect(globToRegExp('*.js').test('a/b.js')).toBe(false);
    expect(globToRegExp('*.js').test('axjs')).toBe(false);
    expect(globToRegExp('docs/**').test('docs/a/b.txt')).toBe(true);
  });

  it('refuses an unclosed brace rather than matching it literally', () => {
    expect(() => globToRegExp('src/*.{js,ts')).toThrow(/unclosed/);
  });
});
