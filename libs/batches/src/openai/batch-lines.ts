import { z } from 'zod';
import type { ChatItemInput } from '#libs/domain';
import { chatBodySchema } from '../chat-submission.js';
import { fieldErrors, jsonTooDeepAt, MAX_JSON_DEPTH } from '#libs/domain';
import { wrongType } from '../type-error.js';

/** The only endpoint a batch line may call: chat completions (issue 16 §1). */
export const CHAT_ENDPOINT = '/v1/chat/completions';

/** Why one line of an input file was not run: written to the batch's error file, as OpenAI writes them. */
export interface LineError {
  /** 1-based, as OpenAI numbers lines. */
  line: number;
  customId: string | null;
  code: string;
  message: string;
  /** The offending field, e.g. `body.messages[0].role`. */
  param: string | null;
}

export interface LineLimits {
  maxOutputTokens: number;
  /** Most lines a file may hold: a batch's items (MAX_ITEMS_PER_BATCH). */
  maxLines: number;
  /** Most UTF-8 bytes one line may hold (MAX_ITEM_BYTES). */
  maxLineBytes: number;
}

export interface ParsedLines {
  /** The valid lines as chat items (custom_id as the item id), in file order. */
  items: ChatItemInput[];
  /** The 1-based line of each item. */
  lines: number[];
  errors: LineError[];
  /** Lines read (blank lines are not counted). */
  total: number;
}

export type LinesCheck = { ok: true; lines: ParsedLines } | { ok: false; message: string };

/** One line of an input file, `{custom_id, method, url, body}`: what parseBatchLines checks each line with. */
export function batchLineSchema(limits: Pick<LineLimits, 'maxOutputTokens'>) {
  return z.strictObject({
    custom_id: z.string(wrongType('must be a string')).min(1, 'must not be empty').max(512),
    method: z.literal('POST', { error: 'must be "POST"' }),
    url: z.literal(CHAT_ENDPOINT, { error: `must be "${CHAT_ENDPOINT}": the batch's endpoint` }),
    body: chatBodySchema(limits),
  });
}

/**
 * Every line of an OpenAI batch input file checked on its own (`{custom_id, method, url, body}`, body a
 * chat-completions request): the valid ones become items, each invalid one an error naming its line and
 * field. A file that is not JSONL at all, or holds more lines than a batch may, is refused whole.
 */
export function parseBatchLines(content: string | Uint8Array, limits: LineLimits): LinesCheck {
  const line = batchLineSchema(limits);
  if (typeof content !== 'string' && startsUtf16(content))
    return {
      ok: false,
      message:
        'the input file is UTF-16 (it starts with a UTF-16 byte-order mark, as Windows PowerShell 5 writes a ' +
        'redirected file); a JSONL file is UTF-8: save it as UTF-8',
    };
  // A byte-order mark, as Windows editors and spreadsheet exports write at the start of a UTF-8 file, is not part
  // of the first line (a UTF-8 decoder drops it; Buffer's does not). CRLF line ends parse as they are: JSON.parse
  // takes the \r for whitespace. A line that is not UTF-8 (null here) is refused, never run with its bytes replaced.
  const raw = typeof content === 'string' ? content.replace(/^\uFEFF/, '').split('\n') : utf8Lines(content);
  const nonBlank = raw.filter((l) => l === null || l.trim() !== '').length;
  if (nonBlank === 0) return { ok: false, message: 'the input file holds no request' };
  if (nonBlank > limits.maxLines)
    return {
      ok: false,
      message: `the input file holds ${nonBlank} requests; a batch holds at most ${limits.maxLines}`,
    };
  const parsed: ParsedLines = { items: [], lines: [], errors: [], total: 0 };
  const seen = new Set<string>();
  raw.forEach((text, i) => {
    if (text !== null && text.trim() === '') return;
    parsed.total += 1;
    const at = i + 1;
    const fail = (customId: string | null, message: string, param: string | null, code = 'invalid_request') =>
      parsed.errors.push({ line: at, customId, code, message, param });
    if (text === null) return fail(null, 'line is not valid UTF-8 (JSON text is UTF-8)', null, 'invalid_json');
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > limits.maxLineBytes)
      return fail(null, `line is ${bytes} bytes; a request holds at most ${limits.maxLineBytes}`, null, 'too_large');
    // As a request body is (MAX_JSON_DEPTH), before the parse: a response_format schema thousands of levels deep
    // overflowed the stack of the checks after it, and the whole create was a 500.
    const deepAt = jsonTooDeepAt(Buffer.from(text, 'utf8'), MAX_JSON_DEPTH);
    if (deepAt !== -1) return fail(null, `line nests deeper than ${MAX_JSON_DEPTH} levels (at byte ${deepAt})`, null);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return fail(null, 'line is not valid JSON', null, 'invalid_json');
    }
    // The line itself, not its `body` field (the name a schema error at the root goes by): said so, naming no field.
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      return fail(null, 'line must be a JSON object: {"custom_id", "method", "url", "body"}', null);
    const customId = customIdOf(json);
    const check = line.safeParse(json);
    if (!check.success) {
      const [first] = fieldErrors(check.error.issues);
      return fail(customId, `${first.field} ${first.message}`, first.field);
    }
    if (seen.has(check.data.custom_id))
      return fail(customId, 'custom_id is a duplicate within the file', 'custom_id', 'duplicate_custom_id');
    seen.add(check.data.custom_id);
    parsed.items.push({ id: check.data.custom_id, body: check.data.body });
    parsed.lines.push(at);
  });
  return { ok: true, lines: parsed };
}

function customIdOf(json: unknown): string | null {
  const id = (json as { custom_id?: unknown } | null)?.custom_id;
  return typeof id === 'string' ? id : null;
}

/**
 * A UTF-16 (or UTF-32LE) byte-order mark: the file is not UTF-8 at all. Read as UTF-8, every line of it would be
 * refused as not JSON (its ASCII interleaved with NULs), which says nothing of the file's real fault.
 */
function startsUtf16(bytes: Uint8Array): boolean {
  return (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The file's lines as text, a line that is not UTF-8 as null (a lenient decoder would put U+FFFD in its place and
 * run a prompt the client never wrote). The whole file is decoded at once where it can be, as nearly every one is.
 * A byte-order mark is dropped at the start of the file only, as for a string.
 */
function utf8Lines(bytes: Uint8Array): Array<string | null> {
  try {
    return strictUtf8
      .decode(bytes)
      .replace(/^\uFEFF/, '')
      .split('\n');
  } catch {
    const lines: Array<string | null> = [];
    for (let start = 0; start <= bytes.length;) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl === -1 ? bytes.length : nl;
      try {
        const text = strictUtf8.decode(bytes.subarray(start, end));
        lines.push(start === 0 ? text.replace(/^\uFEFF/, '') : text);
      } catch {
        lines.push(null);
      }
      start = end + 1;
    }
    return lines;
  }
}
