import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * ARCHITECTURE.md's dependency diagram is the real one: the edges of its mermaid `graph LR` block are
 * compared with the imports of `#libs/<lib>` (the face `#libs/<lib>` or a deep `#libs/<lib>/src/….js`)
 * in apps/<app>/src and libs/<lib>/src, spec files and a lib's imports of itself left out. On a
 * mismatch it prints the edges to add and to remove.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCE = /\.(ts|mts|js|mjs)$/;
const NOT_SOURCE = /\.(spec|int-spec|e2e-spec)\.[mc]?[jt]s$|\.d\.ts$/;
/** `from '#libs/x…'`, `import '#libs/x…'`, `import('#libs/x…')`, `export … from '#libs/x…'`. */
const LIB_IMPORT = /(?:\bfrom|\bimport)\s*\(?\s*['"]#libs\/([a-z0-9-]+)(?:\/[^'"]*)?['"]/g;

function folders(top: string): string[] {
  return readdirSync(join(ROOT, top), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

/** The libs one part's sources import, itself left out. */
function importsOf(top: 'apps' | 'libs', part: string): Set<string> {
  const src = join(ROOT, top, part, 'src');
  const libs = new Set<string>();
  let paths: string[];
  try {
    paths = readdirSync(src, { recursive: true, encoding: 'utf8' });
  } catch {
    return libs;
  }
  for (const path of paths) {
    if (!SOURCE.test(path) || NOT_SOURCE.test(path)) continue;
    for (const [, lib] of readFileSync(join(src, path), 'utf8').matchAll(LIB_IMPORT)) {
      if (!(top === 'libs' && lib === part)) libs.add(lib);
    }
  }
  return libs;
}

function realEdges(): Set<string> {
  const edges = new Set<string>();
  for (const top of ['apps', 'libs'] as const) {
    for (const part of folders(top)) for (const lib of importsOf(top, part)) edges.add(`${part} --> ${lib}`);
  }
  return edges;
}

const architecture = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');

/** The edges of the first mermaid `graph LR` block, as `from --> to` (node labels in brackets ignored). */
function documentedEdges(): Set<string> {
  const block = /```mermaid\s*\ngraph LR\n([\s\S]*?)```/.exec(architecture);
  if (!block) throw new Error('ARCHITECTURE.md has no ```mermaid graph LR block');
  const edges = new Set<string>();
  for (const line of block[1].split('\n')) {
    const edge = /^\s*([\w-]+)(?:\[[^\]]*\])?\s*-->\s*([\w-]+)(?:\[[^\]]*\])?\s*$/.exec(line);
    if (edge) edges.add(`${edge[1]} --> ${edge[2]}`);
  }
  return edges;
}

describe('ARCHITECTURE.md', () => {
  it("draws exactly the dependencies between apps and libs that the code's imports make", () => {
    const real = realEdges();
    const drawn = documentedEdges();
    const add = [...real].filter((e) => !drawn.has(e)).sort();
    const remove = [...drawn].filter((e) => !real.has(e)).sort();
    const report = [
      ...(add.length ? ['Add to the mermaid block in ARCHITECTURE.md:', ...add.map((e) => `    ${e}`)] : []),
      ...(remove.length ? ['Remove from the mermaid block in ARCHITECTURE.md:', ...remove.map((e) => `    ${e}`)] : []),
    ].join('\n');
    expect(report).toBe('');
  });

  it('finds the imports, so an empty scan cannot pass', () => {
    expect(realEdges().size).toBeGreaterThan(10);
  });

  it('names every app and every lib', () => {
    const unnamed = [...folders('apps').map((a) => `apps/${a}`), ...folders('libs').map((l) => `libs/${l}`)].filter(
      (part) => !new RegExp(`\\b${part}\\b`).test(architecture),
    );
    expect(unnamed).toEqual([]);
  });
});

/** One cycle in a directed graph as `a --> b --> … --> a`, or null when it has none. */
function cycleIn(graph: Map<string, Set<string>>): string | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node].join(' --> ');
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const found = visit(next);
      if (found) return found;
    }
    path.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of [...graph.keys()].sort()) {
    const found = visit(node);
    if (found) return found;
  }
  return null;
}

describe('the walls between libs', () => {
  const libGraph = new Map(folders('libs').map((lib) => [lib, importsOf('libs', lib)]));

  it("other code enters a lib only through its face, '#libs/<lib>' (its index.ts)", () => {
    const deep: string[] = [];
    for (const top of ['apps', 'libs', 'test', 'bench']) {
      for (const path of readdirSync(join(ROOT, top), { recursive: true, encoding: 'utf8' })) {
        if (!SOURCE.test(path) || path.includes('node_modules')) continue;
        const text = readFileSync(join(ROOT, top, path), 'utf8');
        for (const [specifier] of text.matchAll(/'#libs\/[a-z0-9-]+\/[^']*'/g))
          deep.push(`${top}/${path}: ${specifier}`);
      }
    }
    expect(deep).toEqual([]);
  });

  it('libs never import each other in a circle', () => {
    expect(cycleIn(libGraph)).toBeNull();
  });

  it('the cycle check finds a circle when there is one', () => {
    const planted = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(cycleIn(planted)).toBe('a --> b --> c --> a');
  });

  it('libs/domain, the shared plain shapes, imports no other lib', () => {
    expect([...importsOf('libs', 'domain')]).toEqual([]);
  });

  // A lib's module may take the config and Redis connection tokens (config.module, redis.module); importing another
  // lib's feature module is wiring, and wiring lives in apps/ (apps/wiring for what both apps share).
  it('no lib wires another lib: Nest modules that compose feature modules live in apps/', () => {
    const infrastructure = new Set(['config', 'redis']);
    const offenders: string[] = [];
    for (const lib of folders('libs')) {
      const src = join(ROOT, 'libs', lib, 'src');
      for (const p of readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.module.ts'))) {
        const text = readFileSync(join(src, p), 'utf8');
        for (const [, other] of text.matchAll(/from '#libs\/([a-z-]+)[^']*\.module\.js'/g)) {
          if (other !== lib && !infrastructure.has(other))
            offenders.push(`libs/${lib}/src/${p} imports ${other}'s module`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});
