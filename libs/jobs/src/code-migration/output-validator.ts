import ts from 'typescript';
import { unwrapCodeFence } from './code-fence.js';
import { jsonSyntaxError, lineAndColumnAt } from './json-syntax-error.js';
import type { MigrationExpectations } from './migration-presets.js';
import { extensionOf, scriptKindOf } from './script-kind.js';

export interface MigratedFileContext {
  /** The file as it was before the migration. */
  originalContent: string;
  /** The provider stopped at maxTokens (finishReason 'length'): the answer is incomplete. */
  maxTokensHit: boolean;
  /** What the task's preset holds the answer to beyond parsing in its file's own language. */
  expect?: MigrationExpectations;
}

/** `leftover`: rename-api's old name is still used as an identifier. */
export type MigratedFileRejection = 'truncated' | 'fences' | 'empty' | 'syntax' | 'leftover';

export type MigratedFileCheck =
  | { ok: true; content: string }
  | {
      ok: false;
      reason: MigratedFileRejection;
      /** Short, for an item error and a retry prompt: "line 3:14: ';' expected". Parser wording, not file text. */
      message: string;
      /** syntax: the numbered lines around the first error. Holds file text: never log it. */
      excerpt?: string;
    };

/** Syntax errors named in a message; the first is what the model must fix, the rest show the extent. */
const MAX_ERRORS_REPORTED = 3;
const EXCERPT_LINES_AROUND = 2;
const EXCERPT_MAX_LINE_CHARS = 160;

/**
 * Checks a model's rewrite of one file and returns the content to store: the Markdown fence and prose
 * around it removed, and the final newline made the same as the original's (otherwise nearly every
 * migrated file shows a spurious "\ No newline at end of file" change in its diff).
 *
 * A file that did not parse before the migration is not held to parsing after it.
 */
export function validateMigratedFile(path: string, output: string, context: MigratedFileContext): MigratedFileCheck {
  if (context.maxTokensHit) {
    return { ok: false, reason: 'truncated', message: 'the answer was cut off at the output token limit' };
  }
  const unwrapped = unwrapCodeFence(output, context.originalContent);
  if (unwrapped.kind === 'unclosed') {
    return { ok: false, reason: 'truncated', message: 'the answer opens a Markdown code fence and never closes it' };
  }
  if (unwrapped.kind === 'several') {
    return {
      ok: false,
      reason: 'fences',
      message: `the answer holds ${unwrapped.fences} extra code fence lines; answer with the one complete file`,
    };
  }
  const content = withFinalNewlineOf(unwrapped.text, context.originalContent);
  if (content.trim() === '' && context.originalContent.trim() !== '') {
    return { ok: false, reason: 'empty', message: 'the answer is empty' };
  }
  // js-to-ts keeps the file's path (so diffs, patches and branches need no rename) and checks its content as TypeScript.
  const parsedAs = context.expect?.typescript ? asTypeScriptPath(path) : path;
  const errors = syntaxCheckFor(parsedAs, context.originalContent)?.(content) ?? [];
  if (errors.length > 0)
    return {
      ok: false,
      reason: 'syntax',
      message: syntaxMessage(errors),
      excerpt: excerptAround(content, errors[0].line),
    };
  const absent = context.expect?.absentIdentifier;
  const leftovers = absent ? identifierUses(parsedAs, content, absent) : [];
  if (leftovers.length === 0) return { ok: true, content };
  const [first] = leftovers;
  return {
    ok: false,
    reason: 'leftover',
    message: `line ${first.line}:${first.column}: \`${absent}\` is still used as an identifier${leftovers.length > 1 ? ` (+${leftovers.length - 1} more places)` : ''}; rename every use`,
    excerpt: excerptAround(content, first.line),
  };
}

const TYPESCRIPT_EXTENSIONS: Record<string, string> = { '.js': '.ts', '.mjs': '.mts', '.cjs': '.cts', '.jsx': '.tsx' };

function asTypeScriptPath(path: string): string {
  const extension = extensionOf(path);
  const typescript = TYPESCRIPT_EXTENSIONS[extension];
  return typescript ? path.slice(0, path.length - extension.length) + typescript : path;
}

/**
 * Where `name` is an identifier in the parsed file: a walk of the syntax tree, so strings, comments and
 * template text never count (a token scan would misread template text after `${…}`). Empty for files
 * the TypeScript parser does not read.
 */
function identifierUses(path: string, content: string, name: string): { line: number; column: number }[] {
  const kind = scriptKindOf(path);
  if (kind === undefined) return [];
  const sourceFile = ts.createSourceFile(
    `/migrated/file${extensionOf(path)}`,
    content,
    ts.ScriptTarget.Latest,
    false,
    kind,
  );
  const uses: { line: number; column: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && node.text === name) {
      const { line, character } = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile));
      uses.push({ line: line + 1, column: character + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return uses;
}

interface ParseError {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units. */
  column: number;
  message: string;
}

type SyntaxCheck = (content: string) => ParseError[];

/**
 * The parser for the file's extension, in the dialect of the original: JSON stays strict unless the
 * original was not (tsconfig.json and .vscode files allow comments and trailing commas). Null when the
 * extension has no parser here, or when the original itself does not parse — an answer is not held to
 * more than its input.
 */
function syntaxCheckFor(path: string, original: string): SyntaxCheck | null {
  const extension = extensionOf(path);
  const kind = scriptKindOf(path);
  const candidates: SyntaxCheck[] =
    kind !== undefined
      ? [(content) => scriptSyntaxErrors(extension, kind, content)]
      : extension === '.json'
        ? [jsonErrors, jsoncErrors]
        : extension === '.jsonc'
          ? [jsoncErrors]
          : [];
  if (original.trim() === '') return candidates[0] ?? null;
  return candidates.find((check) => check(original).length === 0) ?? null;
}

/**
 * Parse errors as `program.getSyntacticDiagnostics` reports them: the parser's, plus, for JavaScript,
 * TypeScript-only syntax (type annotations, enums) that the parser accepts but a JS runtime would not.
 */
function scriptSyntaxErrors(extension: string, kind: ts.ScriptKind, content: string): ParseError[] {
  const fileName = `/migrated/file${extension}`;
  const sourceFile = ts.createSourceFile(fileName, content, ts.ScriptTarget.Latest, false, kind);
  const host: ts.CompilerHost = {
    getSourceFile: (name) => (name === fileName ? sourceFile : undefined),
    fileExists: (name) => name === fileName,
    readFile: () => undefined,
    writeFile: () => {},
    getDefaultLibFileName: () => 'lib.d.ts',
    getCurrentDirectory: () => '/',
    getCanonicalFileName: (name) => name,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => '\n',
  };
  const program = ts.createProgram({
    rootNames: [fileName],
    options: { allowJs: true, noLib: true, noResolve: true, types: [] },
    host,
  });
  return program.getSyntacticDiagnostics(sourceFile).map((diagnostic) => {
    const { line, character } = sourceFile.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    return {
      line: line + 1,
      column: character + 1,
      message: ts.flattenDiagnosticMessageText(diagnostic.messageText, ' '),
    };
  });
}

/** JSON.parse decides; the scanner only says where, since JSON.parse does not always. */
function jsonErrors(content: string): ParseError[] {
  try {
    JSON.parse(content);
    return [];
  } catch (error) {
    const located = jsonSyntaxError(content);
    if (located === null) return [{ line: 1, column: 1, message: (error as Error).message }];
    return [{ ...lineAndColumnAt(content, located.offset), message: located.message }];
  }
}

/** JSON with comments and trailing commas, as TypeScript reads tsconfig.json. */
function jsoncErrors(content: string): ParseError[] {
  const { error } = ts.parseConfigFileTextToJson('/migrated/file.json', content);
  if (!error) return [];
  const { line, column } = lineAndColumnAt(content, error.start ?? 0);
  return [{ line, column, message: ts.flattenDiagnosticMessageText(error.messageText, ' ') }];
}

function syntaxMessage(errors: ParseError[]): string {
  const shown = errors
    .slice(0, MAX_ERRORS_REPORTED)
    .map((e) => `line ${e.line}:${e.column}: ${e.message.replace(/\.$/, '')}`);
  const more = errors.length - shown.length;
  return shown.join('; ') + (more > 0 ? ` (+${more} more)` : '');
}

function excerptAround(content: string, line: number): string {
  const lines = content.split('\n');
  // The '' after a final newline is not a line, unless the error sits at the very end.
  if (lines.length > line && lines[lines.length - 1] === '') lines.pop();
  const first = Math.max(1, line - EXCERPT_LINES_AROUND);
  const last = Math.min(lines.length, line + EXCERPT_LINES_AROUND);
  const width = String(last).length;
  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    const text = lines[n - 1].replace(/\r$/, '');
    const shown = text.length > EXCERPT_MAX_LINE_CHARS ? `${text.slice(0, EXCERPT_MAX_LINE_CHARS)}…` : text;
    out.push(`${n === line ? '>' : ' '} ${String(n).padStart(width)} | ${shown}`);
  }
  return out.join('\n');
}

function withFinalNewlineOf(content: string, original: string): string {
  if (original === '') return content;
  const eol = /\r\n$/.test(original) ? '\r\n' : original.endsWith('\n') ? '\n' : '';
  return content.replace(/\r?\n$/, '') + eol;
}
