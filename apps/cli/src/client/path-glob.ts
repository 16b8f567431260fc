/**
 * Glob patterns for `switchyard submit DIR --glob …` (Node 20 has no fs.glob): `**` any number of path
 * segments, `*` any characters within one segment, `?` one character, `{a,b}` alternatives. Paths are
 * relative and use `/`. Pure, so the CLI's choice of files is tested without a disk.
 */
export function globMatcher(patterns: readonly string[]): (path: string) => boolean {
  const compiled = patterns.map(globToRegExp);
  return (path) => compiled.some((re) => re.test(path));
}

export function globToRegExp(pattern: string): RegExp {
  let re = '';
  let alternatives = 0;
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` matches zero or more whole segments; a trailing `**` matches the rest of the path.
      const slash = pattern[i + 2] === '/';
      re += slash ? '(?:[^/]+/)*' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      alternatives += 1;
      re += '(?:';
    } else if (c === '}' && alternatives > 0) {
      alternatives -= 1;
      re += ')';
    } else if (c === ',' && alternatives > 0) re += '|';
    else re += c.replace(/[.+^$()|[\]\\/]/g, '\\$&');
  }
  if (alternatives > 0) throw new Error(`glob ${pattern}: an unclosed "{"`);
  return new RegExp(`^${re}$`);
}
