import ts from 'typescript';

const SCRIPT_KINDS: Record<string, ts.ScriptKind> = {
  '.ts': ts.ScriptKind.TS,
  '.mts': ts.ScriptKind.TS,
  '.cts': ts.ScriptKind.TS,
  '.tsx': ts.ScriptKind.TSX,
  // The TypeScript parser reads JSX in .js files too, as bundlers do.
  '.js': ts.ScriptKind.JS,
  '.mjs': ts.ScriptKind.JS,
  '.cjs': ts.ScriptKind.JS,
  '.jsx': ts.ScriptKind.JSX,
};

/** How the TypeScript parser should read a file, by its extension; undefined when it is not TS or JS. */
export function scriptKindOf(path: string): ts.ScriptKind | undefined {
  return SCRIPT_KINDS[extensionOf(path)];
}

/** '.ts' for 'src/a.ts', '.json' for 'tsconfig.json', '' for 'Makefile' or '.env'; lower case. */
export function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot).toLowerCase() : '';
}
