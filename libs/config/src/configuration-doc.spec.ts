import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * docs/configuration.md lists every environment variable the code reads, and nothing else. The code is
 * read as text (every source file under apps/ and libs/, wherever it lives and however it imports), so
 * moving files or rewriting imports does not blind this test; a new way of reading the environment does.
 */

/** The repository root: the nearest folder above this file that holds package.json. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('no package.json above this spec');
    dir = up;
  }
  return dir;
}

const ROOT = repositoryRoot();
const SOURCE = /\.(ts|mts|js|mjs)$/;
const NOT_SOURCE = /\.(spec|int-spec|e2e-spec)\.[mc]?[jt]s$|\.d\.ts$/;

/** Every source file under apps/ and libs/, tests left out: path relative to the root → text. */
function sources(): Map<string, string> {
  const files = new Map<string, string>();
  for (const top of ['apps', 'libs']) {
    for (const path of readdirSync(join(ROOT, top), { recursive: true, encoding: 'utf8' })) {
      if (SOURCE.test(path) && !NOT_SOURCE.test(path))
        files.set(join(top, path), readFileSync(join(ROOT, top, path), 'utf8'));
    }
  }
  return files;
}

/**
 * EnvReader's accessors, read from its class wherever it lives: every public method taking `name`, and
 * which of them also read `<name>_FILE` (a secret from a file).
 */
function envReaderAccessors(files: Map<string, string>): { methods: string[]; withFile: string[] } {
  const text = [...files.values()].find((t) => /\bclass EnvReader\b/.test(t));
  if (!text) throw new Error('class EnvReader not found under apps/ or libs/: teach this test how env is read now');
  const body = text.slice(text.search(/\bclass EnvReader\b/));
  const header = /^ {2}(?!private |constructor)(\w+)(?:<[^>]*>)?\(name: string/gm;
  const starts = [...body.matchAll(header)];
  const methods = starts.map((m) => m[1]);
  const withFile = starts
    .filter((m, i) => body.slice(m.index, starts[i + 1]?.index ?? body.length).includes('${name}_FILE'))
    .map((m) => m[1]);
  return { methods, withFile };
}

const NAME = '[A-Z][A-Z0-9_]*';

/** The environment variables one source text reads, by name. */
function variablesRead(text: string, accessors: { methods: string[]; withFile: string[] }): Set<string> {
  const names = new Set<string>();
  const accessor = new RegExp(`\\.(${accessors.methods.join('|')})\\(\\s*['"\`](${NAME})['"\`]`, 'g');
  for (const [, method, name] of text.matchAll(accessor)) {
    names.add(name);
    if (accessors.withFile.includes(method)) names.add(`${name}_FILE`);
  }
  for (const [, name] of text.matchAll(new RegExp(`process\\.env(?:\\?\\.|\\.)(${NAME})\\b`, 'g'))) names.add(name);
  for (const [, name] of text.matchAll(new RegExp(`process\\.env\\??\\.?\\[\\s*['"\`](${NAME})['"\`]\\s*\\]`, 'g')))
    names.add(name);
  for (const [, list] of text.matchAll(/\{([^{}]*)\}\s*=\s*process\.env\b/g)) {
    for (const part of list.split(',')) {
      const name = part.split(':')[0].split('=')[0].trim();
      if (new RegExp(`^${NAME}$`).test(name)) names.add(name);
    }
  }
  return names;
}

/** The variables docs/configuration.md documents: the backticked names in the first cell of its table rows. */
function variablesDocumented(): Set<string> {
  const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  const names = new Set<string>();
  for (const line of doc.split('\n')) {
    if (!line.startsWith('|')) continue;
    const first = line.split('|')[1] ?? '';
    for (const [, name] of first.matchAll(new RegExp(`\`(${NAME})\``, 'g'))) names.add(name);
  }
  return names;
}

/** The OpenTelemetry SDK's own code (each package's build/src under node_modules/@opentelemetry), read once. */
let openTelemetryCode: string | undefined;
function readByOpenTelemetry(name: string): boolean {
  if (!name.startsWith('OTEL_')) return false;
  if (openTelemetryCode === undefined) {
    const root = join(ROOT, 'node_modules', '@opentelemetry');
    const parts: string[] = [];
    for (const pkg of existsSync(root) ? readdirSync(root) : []) {
      const src = join(root, pkg, 'build', 'src');
      if (!existsSync(src)) continue;
      for (const path of readdirSync(src, { recursive: true, encoding: 'utf8' }))
        if (path.endsWith('.js')) parts.push(readFileSync(join(src, path), 'utf8'));
    }
    openTelemetryCode = parts.join('\n');
  }
  return new RegExp(`['"\`]${name}['"\`]`).test(openTelemetryCode);
}

describe('docs/configuration.md', () => {
  const files = sources();
  const accessors = envReaderAccessors(files);
  const read = new Map<string, string[]>();
  for (const [path, text] of files) {
    for (const name of variablesRead(text, accessors)) read.set(name, [...(read.get(name) ?? []), path]);
  }

  it('documents every environment variable the code reads, and none it no longer reads', () => {
    const documented = variablesDocumented();
    const undocumented = [...read.keys()]
      .filter((n) => !documented.has(n))
      .sort()
      .map((n) => `${n} (read in ${read.get(n)!.join(', ')})`);
    // OTEL_* variables are read by the OpenTelemetry SDK itself once tracing starts (docs: "Traces"): each one
    // documented must really be a name that SDK reads, found in its own code.
    const unread = [...documented].filter((n) => !read.has(n) && !readByOpenTelemetry(n)).sort();
    expect({ undocumented, unread }).toEqual({ undocumented: [], unread: [] });
  });

  it('finds reads of every kind, so an empty scan cannot pass', () => {
    // One of each: EnvReader accessors, a secret with its _FILE twin, and plain process.env reads.
    for (const name of [
      'REDIS_URL',
      'PII_RULES',
      'OPENAI_API_KEY',
      'ADMIN_API_KEY_FILE',
      'SWITCHYARD_REDIS_PORT',
      'API_URL',
    ]) {
      expect(read.has(name)).toBe(true);
    }
  });

  it('reads names from accessor calls, secrets, process.env and destructuring alike', () => {
    const text = [
      "e.int('JOB_ATTEMPTS', 5, 1);",
      "e.secret('SOME_KEY');",
      "e.string('lowercase', 'x');",
      'const a = process.env.PLAIN_READ ?? 1;',
      "const b = process.env['BRACKET_READ'];",
      'const { DESTRUCTURED, RENAMED: local } = process.env;',
    ].join('\n');
    const names = variablesRead(text, { methods: ['int', 'secret', 'string'], withFile: ['secret'] });
    expect([...names].sort()).toEqual([
      'BRACKET_READ',
      'DESTRUCTURED',
      'JOB_ATTEMPTS',
      'PLAIN_READ',
      'RENAMED',
      'SOME_KEY',
      'SOME_KEY_FILE',
    ]);
  });
});
