/**
 * A JSON Schema whose answer can always close within `maxTokens` under node-llama-cpp's JSON-schema
 * grammar: every string without `maxLength` gets one, every array without `maxItems` gets one, sized
 * from the output limit. Unbounded, a grammar-constrained model (a small or random one most of all)
 * can stay inside a string or keep adding items until the limit cuts the answer off, and no retry with
 * the same grammar does better. For the grammar only: answers are still validated against the task's
 * own schema.
 *
 * The sizes come from a worst case counted in tokens, a token being at least one character:
 * - what the grammar fixes costs one token a character: braces, quotes, keys, separators, the
 *   whitespace it allows between them (a newline and 4 spaces of indent per level), numbers at their
 *   longest (the grammar allows 16 digits, 16 decimals and a 16-digit exponent), booleans, enums;
 * - string content is counted as one token a character, which holds for ASCII text: text outside
 *   ASCII may still run out of tokens, and is then reported as cut off like any other answer;
 * - what is left after the fixed part is shared equally among the unbounded strings and arrays;
 *   an array of fixed-size items holds as many as fit, an array of items with strings in them holds
 *   items of at least MIN_ITEM_SHARE tokens each; every unbounded array has room for one item first.
 * Every unbounded string keeps MIN_STRING_CHARS and every unbounded array one item, counted in the fixed
 * part: when even that does not fit the limit, the answer may be cut off, which the caller reports and
 * may ask again with a larger limit.
 * Nodes this does not read (`$ref`, schemas without a type) are left as they are.
 */
export function boundedJsonSchema(schema: Record<string, unknown>, maxTokens: number): Record<string, unknown> {
  return bound(schema, Math.max(0, maxTokens - GRAMMAR_END_TOKENS), 0) as Record<string, unknown>;
}

/** The most tokens an answer to `schema` takes under the grammar, by the worst case above (its end included). */
export function worstCaseTokens(schema: Record<string, unknown>): number {
  return fixedCost(schema, 0) + GRAMMAR_END_TOKENS;
}

/** node-llama-cpp's grammar ends an answer with four newlines (its stop trigger). */
const GRAMMAR_END_TOKENS = 4;
/** Indent the grammar allows per nesting level (node-llama-cpp's scopePadSpaces), plus the newline. */
const INDENT_SPACES = 4;
/** Longest number the grammar allows: sign, 16 digits, point and 16 decimals, "e", sign, 16 digits. */
const NUMBER_CHARS = 1 + 16 + 1 + 16 + 2 + 16;
const INTEGER_CHARS = 1 + 16 + 2 + 16;
/** Longest `date-time` the grammar writes, with offset and fraction. */
const FORMAT_STRING_CHARS = 40;
/** The string formats node-llama-cpp writes by its own rule (and without maxLength). */
const FORMATS = ['date-time', 'date', 'time'];
export const MIN_STRING_CHARS = 8;
/** Least share of the limit an item with unbounded strings gets, when choosing how many items fit. */
export const MIN_ITEM_SHARE = 16;

type Node = Record<string, unknown>;

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whitespace the grammar allows at one place: a newline and the indent of `depth` levels. */
const whitespace = (depth: number) => 1 + INDENT_SPACES * depth;

const isFormatted = (node: Node) => typeof node.format === 'string' && FORMATS.includes(node.format);

function typeOf(node: Node): string | undefined {
  return typeof node.type === 'string' ? node.type : isNode(node.properties) ? 'object' : undefined;
}

/** A type list that can hold strings or arrays (["string", "null"]) as one alternative per type, each bounded. */
function split(node: Node): Node {
  const containers = ['string', 'array', 'object'];
  if (!Array.isArray(node.type) || !node.type.some((t) => containers.includes(t as string))) return node;
  const { type, ...rest } = node;
  return { oneOf: (type as string[]).map((t) => ({ ...rest, type: t })) };
}

/**
 * Tokens the node takes at most with its unbounded strings at MIN_STRING_CHARS and its unbounded arrays
 * at one item (or their minimums).
 */
function fixedCost(raw: unknown, depth: number): number {
  if (!isNode(raw)) return 0;
  const node = split(raw);
  const alternatives = (node.oneOf ?? node.anyOf) as unknown[] | undefined;
  if (Array.isArray(alternatives)) return Math.max(0, ...alternatives.map((a) => fixedCost(a, depth)));
  if ('const' in node) return JSON.stringify(node.const ?? null).length;
  if (Array.isArray(node.enum)) return Math.max(0, ...node.enum.map((v) => JSON.stringify(v ?? null).length));
  switch (typeOf(node)) {
    case 'string':
      if (isFormatted(node)) return 2 + FORMAT_STRING_CHARS;
      if (typeof node.maxLength === 'number') return 2 + node.maxLength;
      // An unbounded string is counted with MIN_STRING_CHARS at least: it keeps them whatever the share.
      return 2 + Math.max(MIN_STRING_CHARS, Number(node.minLength ?? 0));
    case 'number':
      return NUMBER_CHARS;
    case 'integer':
      return INTEGER_CHARS;
    case 'boolean':
      return 5;
    case 'null':
      return 4;
    case 'object':
      return objectFixedCost(node, depth);
    case 'array': {
      // An unbounded array is counted with one item at least: it is given room for one before any share.
      const items = typeof node.maxItems === 'number' ? node.maxItems : Math.max(1, Number(node.minItems ?? 0));
      return 2 + whitespace(depth) + items * itemCost(node, depth);
    }
    default:
      return 0;
  }
}

function objectFixedCost(node: Node, depth: number): number {
  const properties = isNode(node.properties) ? Object.entries(node.properties) : [];
  // Per property: the whitespace before it, the quoted key, ':', a space, a comma.
  const keys = properties.reduce(
    (sum, [key, value]) => sum + whitespace(depth + 1) + key.length + 5 + fixedCost(value, depth + 1),
    0,
  );
  return 2 + whitespace(depth) + keys;
}

/** One item of an array as it stands: the whitespace and comma before it, and the item. */
function itemCost(node: Node, depth: number): number {
  return whitespace(depth + 1) + 1 + fixedCost(node.items, depth + 1);
}

/** How many unbounded strings and arrays share what is left of the limit inside the node. */
function slots(raw: unknown): number {
  if (!isNode(raw)) return 0;
  const node = split(raw);
  const alternatives = (node.oneOf ?? node.anyOf) as unknown[] | undefined;
  if (Array.isArray(alternatives)) return Math.max(0, ...alternatives.map(slots));
  if ('const' in node || Array.isArray(node.enum)) return 0;
  switch (typeOf(node)) {
    case 'string':
      return typeof node.maxLength === 'number' || isFormatted(node) ? 0 : 1;
    case 'object':
      if (!isNode(node.properties)) return 0;
      return Object.values(node.properties).reduce((sum: number, value) => sum + slots(value), 0);
    case 'array':
      return typeof node.maxItems === 'number' ? node.maxItems * slots(node.items) : 1;
    default:
      return 0;
  }
}

/** The node with its unbounded strings and arrays bounded so it takes at most `budget` tokens where it can. */
function bound(raw: unknown, budget: number, depth: number): unknown {
  if (!isNode(raw)) return raw;
  const node = split(raw);
  for (const key of ['oneOf', 'anyOf'] as const) {
    const alternatives = node[key];
    if (Array.isArray(alternatives)) return { ...node, [key]: alternatives.map((a) => bound(a, budget, depth)) };
  }
  if ('const' in node || Array.isArray(node.enum)) return node;
  switch (typeOf(node)) {
    case 'string':
      if (typeof node.maxLength === 'number' || isFormatted(node)) return node;
      return { ...node, maxLength: Math.max(budget - 2, MIN_STRING_CHARS, Number(node.minLength ?? 0)) };
    case 'object':
      return boundObject(node, budget, depth);
    case 'array':
      return boundArray(node, budget, depth);
    default:
      return node;
  }
}

function boundObject(node: Node, budget: number, depth: number): Node {
  if (!isNode(node.properties)) return node;
  const entries = Object.entries(node.properties);
  const shares = entries.reduce((sum, [, value]) => sum + slots(value), 0);
  if (shares === 0) return node;
  const spare = Math.max(0, budget - objectFixedCost(node, depth));
  const properties = Object.fromEntries(
    entries.map(([key, value]) => {
      const share = fixedCost(value, depth + 1) + Math.floor((spare * slots(value)) / shares);
      return [key, bound(value, share, depth + 1)];
    }),
  );
  return { ...node, properties };
}

function boundArray(node: Node, budget: number, depth: number): Node {
  const minItems = Number(node.minItems ?? 0);
  const room = Math.max(0, budget - 2 - whitespace(depth));
  const itemSlots = slots(node.items);
  let maxItems = typeof node.maxItems === 'number' ? node.maxItems : undefined;
  if (maxItems === undefined) {
    const least = itemCost(node, depth) + MIN_ITEM_SHARE * itemSlots;
    maxItems = Math.max(minItems, 1, least > 0 ? Math.floor(room / least) : 1);
  }
  if (itemSlots === 0) return { ...node, maxItems };
  // Each item's strings share its part of the room.
  const perItem = Math.floor(room / Math.max(1, maxItems)) - whitespace(depth + 1) - 1;
  return { ...node, maxItems, items: bound(node.items, perItem, depth + 1) };
}
