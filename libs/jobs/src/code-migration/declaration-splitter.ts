import ts from 'typescript';
import { extensionOf, scriptKindOf } from './script-kind.js';

/**
 * Splits a file too long for one migration prompt into chunks of whole top-level statements, each at
 * most `maxChunkTokens` where a statement allows it (a larger statement is a chunk of its own).
 * `chunks.join('') === content` always holds:
 * - a statement's leading comments and blank lines go with it, so a doc comment stays on its declaration;
 * - a comment on the same line after a statement, and that line's break, stay with the statement;
 * - the import header (from the top to the last of the leading imports, with the directives and re-exports
 *   among them) is one piece, in the first chunk.
 *
 * Files other than TS/JS split at line breaks. A chunk's size is the sum of its pieces' counts, so
 * `countTokens` is called once per piece, not once per candidate chunk.
 */
export function splitAtTopLevelDeclarations(
  path: string,
  content: string,
  maxChunkTokens: number,
  countTokens: (text: string) => number,
): string[] {
  if (!(maxChunkTokens >= 1)) throw new RangeError(`maxChunkTokens must be at least 1, got ${maxChunkTokens}`);
  if (content === '') return [];
  const kind = scriptKindOf(path);
  const cuts = kind === undefined ? lineCuts(content) : statementCuts(content, extensionOf(path), kind);
  return pack(content, cuts, maxChunkTokens, countTokens);
}

/** Offsets where a piece may end, ascending, the last being content.length. */
function statementCuts(content: string, extension: string, kind: ts.ScriptKind): number[] {
  const sourceFile = ts.createSourceFile(`/split/file${extension}`, content, ts.ScriptTarget.Latest, false, kind);
  const statements = sourceFile.statements;
  const header = importHeaderLength(statements);
  const cuts: number[] = [];
  for (let i = Math.max(header - 1, 0); i < statements.length - 1; i++) {
    cuts.push(endOfLineAfter(content, statements[i].end, statements[i + 1].getStart(sourceFile)));
  }
  cuts.push(content.length);
  return cuts;
}

/** How many statements at the top, up to the last import, are imports, directives ('use strict') and re-exports. */
function importHeaderLength(statements: ts.NodeArray<ts.Statement>): number {
  let count = 0;
  let lastImport = 0;
  for (const statement of statements) {
    const isImport = ts.isImportDeclaration(statement) || ts.isImportEqualsDeclaration(statement);
    const isReExport = ts.isExportDeclaration(statement) && statement.moduleSpecifier !== undefined;
    const isDirective = ts.isExpressionStatement(statement) && ts.isStringLiteral(statement.expression);
    if (!isImport && !isReExport && !isDirective) break;
    count++;
    if (isImport) lastImport = count;
  }
  return lastImport;
}

/**
 * Where a statement's piece ends: after the comments on its own line and that line's break, but never
 * past `limit` (the next statement's first token).
 */
function endOfLineAfter(content: string, end: number, limit: number): number {
  let at = end;
  for (const comment of ts.getTrailingCommentRanges(content, end) ?? []) at = Math.max(at, comment.end);
  while (at < limit && (content[at] === ' ' || content[at] === '\t')) at++;
  if (content.startsWith('\r\n', at) && at + 2 <= limit) return at + 2;
  if (content[at] === '\n' && at + 1 <= limit) return at + 1;
  // Another statement on the same line: cut right after this one and its comments.
  return Math.min(at, limit);
}

function lineCuts(content: string): number[] {
  const cuts: number[] = [];
  for (let at = content.indexOf('\n'); at !== -1 && at + 1 < content.length; at = content.indexOf('\n', at + 1))
    cuts.push(at + 1);
  cuts.push(content.length);
  return cuts;
}

/** Greedy: pieces go into the current chunk until the next would overflow it. */
function pack(
  content: string,
  cuts: number[],
  maxChunkTokens: number,
  countTokens: (text: string) => number,
): string[] {
  const chunks: string[] = [];
  let chunkStart = 0;
  let chunkTokens = 0;
  let pieceStart = 0;
  for (const cut of cuts) {
    const tokens = countTokens(content.slice(pieceStart, cut));
    if (pieceStart > chunkStart && chunkTokens + tokens > maxChunkTokens) {
      chunks.push(content.slice(chunkStart, pieceStart));
      chunkStart = pieceStart;
      chunkTokens = 0;
    }
    chunkTokens += tokens;
    pieceStart = cut;
  }
  chunks.push(content.slice(chunkStart));
  return chunks;
}
