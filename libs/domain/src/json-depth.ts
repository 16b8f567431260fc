const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/**
 * How deeply a JSON text from a client may nest: a request body, or a line of an OpenAI batch input file. JSON.parse
 * takes any depth, but JSON.stringify (storing a task, its extract schema, checking a response_format schema)
 * recurses and overflows the stack at a few thousand levels: the chaos fuzz got a 500 from a 5000-level schema
 * inside a 256 KiB body. Real extract schemas nest a few dozen levels at most.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * Where a JSON text first nests deeper than `maxDepth` arrays and objects (a byte offset), or -1: read from the raw
 * bytes before any parse, in one pass. JSON.parse takes any depth but slowly (a 10 MB body of 5,000,000 `[` took it
 * 5.8 s, the event loop held for every other request meanwhile), so a depth limit checked on the parsed value comes
 * too late. UTF-8 only: no byte of a multi-byte sequence is below 0x80, so quotes, escapes and brackets are exact.
 * Text that is not JSON is scanned as well as it can be; the parser refuses it next.
 */
export function jsonTooDeepAt(bytes: Uint8Array, maxDepth: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++depth > maxDepth) return i;
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) depth--;
  }
  return -1;
}
