import { createHash } from 'node:crypto';
import { diffLines, type LineEdit } from './line-diff.js';

/** Lines of unchanged context around each change, as git and GNU diff print by default. */
export const CONTEXT_LINES = 3;

/** One file of a migration. `before` null: the file is new; `after` null: the file is deleted. */
export interface FileChange {
  path: string;
  before: string | null;
  after: string | null;
}

const NULL_BLOB = '0'.repeat(40);
const NO_NEWLINE = '\\ No newline at end of file\n';

/**
 * A git-style unified diff of one file that `git apply` accepts ('' when nothing changed).
 *
 * `before` null makes a new file and `after` null deletes one; '' is an existing empty file, which
 * `git apply` would refuse to "create" again. Line breaks are compared and kept byte for byte (CRLF
 * stays CRLF). The index line carries the full blob ids, so `git apply --3way` can merge a patch made
 * against an older checkout; it names no mode, so an executable file stays executable.
 */
export function unifiedDiff(path: string, before: string | null, after: string | null): string {
  if (before === after) return '';
  if (before === null && after === null) return '';
  const a = `a/${path}`;
  const b = `b/${path}`;
  const header = [`diff --git ${quotePath(a)} ${quotePath(b)}\n`];
  if (before === null) header.push('new file mode 100644\n', `index ${NULL_BLOB}..${blobId(after!)}\n`);
  else if (after === null) header.push('deleted file mode 100644\n', `index ${blobId(before)}..${NULL_BLOB}\n`);
  else header.push(`index ${blobId(before)}..${blobId(after)}\n`);
  const oldLines = splitLines(before ?? '');
  const newLines = splitLines(after ?? '');
  // git prints no ---/+++ lines for a file created or deleted empty.
  if (oldLines.length === 0 && newLines.length === 0) return header.join('');
  header.push(
    `--- ${before === null ? '/dev/null' : fileLabel(a)}\n`,
    `+++ ${after === null ? '/dev/null' : fileLabel(b)}\n`,
  );
  return header.join('') + hunks(oldLines, newLines, diffLines(oldLines, newLines)).join('');
}

/** One patch for a batch: every changed file's diff, in the order given; unchanged files are left out. */
export function batchPatch(files: readonly FileChange[]): string {
  const seen = new Set<string>();
  for (const { path } of files) {
    if (seen.has(path)) throw new RangeError(`batchPatch: "${path}" appears twice`);
    seen.add(path);
  }
  return files.map((file) => unifiedDiff(file.path, file.before, file.after)).join('');
}

/** Lines with their line break ('\n', so CRLF lines end in '\r\n'); the last may have none. */
function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function hunks(oldLines: string[], newLines: string[], edits: LineEdit[]): string[] {
  // Old and new line number before each edit, so any range of edits maps to both files.
  const oldAt = new Int32Array(edits.length + 1);
  const newAt = new Int32Array(edits.length + 1);
  for (let e = 0; e < edits.length; e++) {
    oldAt[e + 1] = oldAt[e] + (edits[e] === 'insert' ? 0 : 1);
    newAt[e + 1] = newAt[e] + (edits[e] === 'delete' ? 0 : 1);
  }
  const out: string[] = [];
  let e = 0;
  while (e < edits.length) {
    while (e < edits.length && edits[e] === 'equal') e++;
    if (e === edits.length) break;
    const start = Math.max(0, e - CONTEXT_LINES);
    // Extend over changes whose context would touch or overlap this hunk's.
    let lastChange = e;
    for (let next = e + 1; next < edits.length && next - lastChange <= 2 * CONTEXT_LINES + 1; next++) {
      if (edits[next] !== 'equal') lastChange = next;
    }
    const end = Math.min(edits.length, lastChange + 1 + CONTEXT_LINES);
    out.push(
      `@@ -${range(oldAt[start], oldAt[end] - oldAt[start])} +${range(newAt[start], newAt[end] - newAt[start])} @@\n`,
    );
    for (let i = start; i < end; i++) {
      const edit = edits[i];
      const line = edit === 'insert' ? newLines[newAt[i]] : oldLines[oldAt[i]];
      const prefix = edit === 'equal' ? ' ' : edit === 'delete' ? '-' : '+';
      out.push(prefix + line + (line.endsWith('\n') ? '' : `\n${NO_NEWLINE}`));
    }
    e = end;
  }
  return out;
}

/** "start,count" with git's conventions: a count of 1 is left out; an empty range names the line before it. */
function range(linesBefore: number, count: number): string {
  if (count === 0) return `${linesBefore},0`;
  return count === 1 ? `${linesBefore + 1}` : `${linesBefore + 1},${count}`;
}

/** The id git gives this content as a blob (SHA-1 of "blob <bytes>\0" and the bytes). */
function blobId(content: string): string {
  const bytes = Buffer.from(content, 'utf8');
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

/** git ends ---/+++ names that hold a space with a tab, so a timestamp-less name is not cut at the space. */
function fileLabel(name: string): string {
  return quotePath(name) + (name.includes(' ') ? '\t' : '');
}

const C_ESCAPES: Record<string, string> = {
  '\x07': 'a',
  '\b': 'b',
  '\t': 't',
  '\n': 'n',
  '\v': 'v',
  '\f': 'f',
  '\r': 'r',
  '"': '"',
  '\\': '\\',
};

/** git's C-style quoting (core.quotePath on): names with control characters, quotes, backslashes or non-ASCII bytes. */
function quotePath(name: string): string {
  // eslint-disable-next-line no-control-regex -- git quotes names with control characters
  if (!/[\x00-\x1f\x7f"\\]|[^\x00-\x7f]/.test(name)) return name;
  let quoted = '"';
  for (const byte of Buffer.from(name, 'utf8')) {
    const char = String.fromCharCode(byte);
    if (C_ESCAPES[char]) quoted += `\\${C_ESCAPES[char]}`;
    else if (byte < 0x20 || byte >= 0x7f) quoted += `\\${byte.toString(8).padStart(3, '0')}`;
    else quoted += char;
  }
  return `${quoted}"`;
}
