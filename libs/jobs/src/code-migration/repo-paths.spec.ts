import { describe, expect, it } from '@jest/globals';
import { branchNameProblem, itemPathProblem } from './repo-paths.js';

describe('what a code migration may name in a repository (issue 13 §5)', () => {
  it('takes relative, normalized paths inside the repository', () => {
    for (const path of ['src/a.js', 'a.js', 'deep/er/file.test.ts', '.github/workflows/ci.yml', 'a..b.js'])
      expect([path, itemPathProblem(path)]).toEqual([path, null]);
  });

  it('refuses paths that leave the repository, are absolute, or are not normalized', () => {
    for (const path of [
      '../../etc/evil.json',
      'src/../../x',
      '..',
      '/etc/abs.json',
      'C:/x.js',
      'a\\..\\..\\b',
      'a//b',
      './a',
      'a/',
      'a/./b',
      '',
      'a\u0000b',
      'a\nb',
      '.git/config',
      'x/.GIT/hooks/pre-commit',
    ]) {
      expect([path, itemPathProblem(path)]).toEqual([path, expect.any(String)]);
    }
  });

  it('takes branch names git would create as they are', () => {
    for (const name of ['switchyard/esm', 'migrate-2026.11', 'feature/a_b', 'main-esm', 'x@y'])
      expect([name, branchNameProblem(name)]).toEqual([name, null]);
  });

  it('refuses names git reads otherwise, refs, and protected branches', () => {
    for (const name of [
      '@',
      '@{-1}',
      'a@{u}',
      'refs/heads/main',
      'main',
      'master',
      'HEAD',
      'bad..name',
      'a.lock',
      'x/y.lock',
      '.hidden',
      'a/.b',
      'a/',
      '/a',
      'a//b',
      'a.',
      '-f',
      'a b',
      'a~1',
      'a^',
      'a:b',
      'a?',
      'a*',
      'a[',
      'a\\b',
      'a\u0001',
      '',
    ]) {
      expect([name, branchNameProblem(name)]).toEqual([name, expect.any(String)]);
    }
  });
});
