/**
 * The JSON Schema handed to node-llama-cpp's JSON-schema grammar for a task's schema: read as node-llama-cpp
 * reads schemas (grammarSchema), and bounded so the answer can always close within `maxTokens`.
 *
 * Bounds: every string without `maxLength` gets one, every array without `maxItems` gets one, sized from the
 * output limit. Unbounded, a grammar-constrained model (a small or random one most of all) can stay inside a
 * string or keep adding items until the limit cuts the answer off, and no retry with the same grammar does
 * better. For the grammar only: answers are still validated against the task's own schema.
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
 * may ask again with a larger limit. No bound exceeds what llama.cpp can hold (GRAMMAR_MAX_CHARS,
 * GRAMMAR_MAX_ITEMS): a longer string is cut there by the grammar even where the limit has room for it.
 * Free-form parts (any JSON value, an object's extra properties, an array's items without a schema) are
 * not bounded.
 */
export function boundedJsonSchema(schema: Record<string, unknown>, maxTokens: number): Record<string, unknown> {
  return bound(grammarSchema(schema), Math.max(0, maxTokens - GRAMMAR_END_TOKENS), 0) as Record<string, unknown>;
}

/** The most tokens an answer to `schema` takes under the grammar, by the worst case above (its end included). */
export function worstCaseTokens(schema: Record<string, unknown>): number {
  return fixedCost(grammarSchema(schema), 0) + GRAMMAR_END_TOKENS;
}

/**
 * The task's schema as node-llama-cpp's grammar must be given it to allow the answers the schema allows
 * (node-llama-cpp 3.22, dist/utils/gbnfJson). What it does not recognise it reads as `null`, the only value
 * the model may then write: `anyOf`, `allOf`, a node without `type` (even with `properties`), `true` and `{}`.
 * It writes a string with a `format` other than date, time and date-time as `""`, a bare `{type: "object"}`
 * as `{}`, a `$ref` other than `#/$defs/<name>` as any value, and fails on an object or array in `const` or
 * `enum`. So, here:
 * - `$ref`s (pointers into the schema: `#`, `#/$defs/…`, `#/definitions/…`, `#/properties/…`) are replaced by
 *   what they point to, and `allOf` members merged into one node; submission refuses cycles of references
 *   (schema-limits.ts), and one met anyway, members that contradict each other and references beyond
 *   MAX_INLINED_NODES become any value;
 * - `anyOf` becomes `oneOf` (the grammar cannot tell them apart), with the node's own keywords merged into
 *   each alternative; a type list becomes one alternative per type;
 * - a node without `type` is an object when it has `properties` or `additionalProperties`, an array when it
 *   has `items` or `prefixItems`, and any value otherwise (as are `not` and `if`/`then`/`else` alone);
 * - an object without properties, or needing more than it lists (`minProperties`, `required` names it does
 *   not list), gets the extra properties its schema allows; a property whose schema is `false` is left out;
 * - unsupported formats are dropped, objects and arrays in `const` and `enum` spelled out as schemas;
 * - bounds above what llama.cpp holds are lowered to GRAMMAR_MAX_CHARS and GRAMMAR_MAX_ITEMS.
 * The grammar so allows every answer the schema allows, or more where it cannot say the schema's
 * constraint, except that it writes every property an object lists, in order, and no more than
 * GRAMMAR_MAX_CHARS characters in a string or GRAMMAR_MAX_ITEMS items in an array. Answers are checked against
 * the task's own schema, untouched here.
 */
export function grammarSchema(schema: Record<string, unknown>): Record<string, unknown> {
  // The root is being read: a `$ref: "#"` inside it is a cycle already.
  return normalise(schema, { root: schema, nodes: 0 }, new Set(['']));
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
/**
 * The largest bounds llama.cpp parses. Its grammar parser (llama-grammar.cpp, MAX_REPETITION_THRESHOLD 2000)
 * refuses a repetition whose count times the rules of the repeated group exceeds 2000, and reads a maximum
 * above 2000 as none. node-llama-cpp repeats a group of up to 2 rules for a string's characters and up to 3
 * for an array's items or an object's extra properties: measured on its grammars, a lone string of 1001
 * characters does not parse, nor an array of 668 items after a prefix item (bounded-json-schema.int-spec.ts).
 */
export const GRAMMAR_MAX_CHARS = 1000;
export const GRAMMAR_MAX_ITEMS = 666;
/** Nodes the schema may grow to as its references are inlined (a schema holds at most 2000: schema-limits.ts). */
const MAX_INLINED_NODES = 10_000;

type Node = Record<string, unknown>;

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whitespace the grammar allows at one place: a newline and the indent of `depth` levels. */
const whitespace = (depth: number) => 1 + INDENT_SPACES * depth;

const isFormatted = (node: Node) => typeof node.format === 'string' && FORMATS.includes(node.format);

/**
 * Tokens the node takes at most with its unbounded strings at MIN_STRING_CHARS and its unbounded arrays
 * at one item (or their minimums).
 */
function fixedCost(node: unknown, depth: number): number {
  if (!isNode(node)) return 0;
  const known = costs.get(node)?.get(depth);
  if (known !== undefined) return known;
  const cost = fixedCostOf(node, depth);
  costs.set(node, (costs.get(node) ?? new Map<number, number>()).set(depth, cost));
  return cost;
}

/**
 * bound() asks for the cost and slots of a subtree at every level above it: remembered per node, so a schema
 * grown large by its references is bounded in time linear in its size.
 */
const costs = new WeakMap<Node, Map<number, number>>();
const slotCounts = new WeakMap<Node, number>();

function fixedCostOf(node: Node, depth: number): number {
  if (Array.isArray(node.oneOf)) return Math.max(0, ...node.oneOf.map((a) => fixedCost(a, depth)));
  if ('const' in node) return JSON.stringify(node.const ?? null).length;
  if (Array.isArray(node.enum)) return Math.max(0, ...node.enum.map((v) => JSON.stringify(v ?? null).length));
  switch (node.type) {
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

/** A string bound() leaves unbounded: bounded already, by its format, or longer than the grammar can bound. */
const keepsItsLength = (node: Node) =>
  typeof node.maxLength === 'number' || isFormatted(node) || Number(node.minLength ?? 0) >= GRAMMAR_MAX_CHARS;
const keepsItsItems = (node: Node) =>
  typeof node.maxItems === 'number' || Number(node.minItems ?? 0) >= GRAMMAR_MAX_ITEMS;

/** How many unbounded strings and arrays share what is left of the limit inside the node. */
function slots(node: unknown): number {
  if (!isNode(node)) return 0;
  let count = slotCounts.get(node);
  if (count === undefined) slotCounts.set(node, (count = slotsOf(node)));
  return count;
}

function slotsOf(node: Node): number {
  if (Array.isArray(node.oneOf)) return Math.max(0, ...node.oneOf.map(slots));
  if ('const' in node || Array.isArray(node.enum)) return 0;
  switch (node.type) {
    case 'string':
      return keepsItsLength(node) ? 0 : 1;
    case 'object':
      if (!isNode(node.properties)) return 0;
      return Object.values(node.properties).reduce((sum: number, value) => sum + slots(value), 0);
    case 'array':
      return keepsItsItems(node) ? Number(node.maxItems ?? 0) * slots(node.items) : 1;
    default:
      return 0;
  }
}

/** The node with its unbounded strings and arrays bounded so it takes at most `budget` tokens where it can. */
function bound(node: unknown, budget: number, depth: number): unknown {
  if (!isNode(node)) return node;
  if (Array.isArray(node.oneOf)) return { ...node, oneOf: node.oneOf.map((a) => bound(a, budget, depth)) };
  if ('const' in node || Array.isArray(node.enum)) return node;
  switch (node.type) {
    case 'string': {
      if (keepsItsLength(node)) return node;
      const length = Math.max(budget - 2, MIN_STRING_CHARS, Number(node.minLength ?? 0));
      return { ...node, maxLength: Math.min(length, GRAMMAR_MAX_CHARS) };
    }
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
  if (maxItems === undefined && minItems < GRAMMAR_MAX_ITEMS) {
    const least = itemCost(node, depth) + MIN_ITEM_SHARE * itemSlots;
    const fit = Math.max(minItems, 1, least > 0 ? Math.floor(room / least) : 1);
    maxItems = Math.min(fit, GRAMMAR_MAX_ITEMS);
  }
  if (itemSlots === 0) return maxItems === undefined ? node : { ...node, maxItems };
  // Each item's strings share its part of the room.
  const perItem = Math.floor(room / Math.max(1, maxItems ?? minItems)) - whitespace(depth + 1) - 1;
  return { ...node, ...(maxItems === undefined ? {} : { maxItems }), items: bound(node.items, perItem, depth + 1) };
}

// --- Reading the task's schema as node-llama-cpp's grammar must be given it (grammarSchema) ---

/** What one grammarSchema() call shares: the schema its pointers point into, and the nodes made so far. */
interface Reading {
  root: unknown;
  nodes: number;
}

/** Keywords that describe without constraining: they neither conflict when merged nor make a union less plain. */
const ANNOTATIONS = new Set([
  'title',
  'description',
  'default',
  'examples',
  '$comment',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$schema',
  '$id',
  '$anchor',
]);

const SCALAR_TYPES = ['number', 'integer', 'boolean', 'null'];

/** Any JSON value, spelled so node-llama-cpp allows each kind (its own "any" needs no schema for the inner ones). */
const anyJson = (): Node => ({
  oneOf: [
    { type: 'string' },
    { type: 'number' },
    { type: 'boolean' },
    { type: 'null' },
    { type: 'array' },
    { type: 'object', additionalProperties: true },
  ],
});

/** `raw` as the grammar must read it; `expanding`: the references being inlined above it (a repeat is a cycle). */
function normalise(raw: unknown, reading: Reading, expanding: ReadonlySet<string>): Node {
  // `true`, or `false` other than as a property or items (nothing matches it: the check refuses the answer).
  if (!isNode(raw)) return anyJson();
  reading.nodes++;
  const expanded = expand(raw, reading, expanding);
  if (!expanded) return anyJson();
  const { node, inlined } = expanded;
  const { oneOf, anyOf, ...rest } = node;
  const alternatives = Array.isArray(oneOf) ? oneOf : Array.isArray(anyOf) ? anyOf : undefined;
  if (alternatives) {
    if (alternatives.length === 0) return anyJson();
    const plain = Object.keys(rest).every((key) => ANNOTATIONS.has(key));
    // {type: "object", properties: …, anyOf: [{required: ["a"]}, …]}: each alternative is the node and one of them.
    const merged = plain ? alternatives : alternatives.map((a) => (isNode(a) ? merge(rest, a) : a));
    if (merged.some((a) => a === undefined)) return anyJson();
    return { oneOf: merged.map((a) => normalise(a, reading, inlined)) };
  }
  if ('const' in rest) return literalSchema(rest.const) ?? anyJson();
  if (Array.isArray(rest.enum)) {
    if (rest.enum.every(isScalar)) return rest;
    const literals = rest.enum.map(literalSchema);
    return literals.every((l) => l !== undefined) && literals.length > 0 ? { oneOf: literals } : anyJson();
  }
  const types = typesOf(rest);
  if (types.length === 0) return anyJson();
  if (types.length > 1) return { oneOf: types.map((type) => normalise({ ...rest, type }, reading, inlined)) };
  const type = types[0];
  if (type === 'object') return grammarObject({ ...rest, type }, reading, inlined);
  if (type === 'array') return grammarArray({ ...rest, type }, reading, inlined);
  if (type === 'string') return grammarString({ ...rest, type });
  return SCALAR_TYPES.includes(type) ? { ...rest, type } : anyJson();
}

/** The node's types; without `type`, what its keywords say it is (none: any value). */
function typesOf(node: Node): string[] {
  if (typeof node.type === 'string') return [node.type];
  if (Array.isArray(node.type)) return [...new Set(node.type.filter((t): t is string => typeof t === 'string'))];
  if ('properties' in node || 'additionalProperties' in node) return ['object'];
  if ('items' in node || 'prefixItems' in node) return ['array'];
  return [];
}

/**
 * The node with its `$ref`s (followed) and `allOf` members merged into it, and the references inlined on the
 * way; undefined where that cannot be done (a cycle, a pointer to nothing, a conflict, too many nodes). A
 * reference inlined here and met again below the node is read as a cycle (a reference used twice side by side
 * is not).
 */
function expand(
  raw: Node,
  reading: Reading,
  expanding: ReadonlySet<string>,
): { node: Node; inlined: ReadonlySet<string> } | undefined {
  const inlined = new Set(expanding);
  // Read depth first: the grammar writes properties in the order they are merged in.
  const pending: Array<{ part: unknown; above: ReadonlySet<string> }> = [{ part: raw, above: expanding }];
  let node: Node = {};
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    const { part, above } = next;
    if (part === true) continue;
    if (!isNode(part)) return undefined;
    // References are inlined here, so the definitions they point into are not handed on.
    const { $ref, allOf, $defs: _defs, definitions: _definitions, ...own } = part;
    const parts: Array<{ part: unknown; above: ReadonlySet<string> }> = [];
    if (typeof $ref === 'string') {
      const pointer = pointerOf($ref);
      if (pointer === undefined || above.has(pointer) || reading.nodes > MAX_INLINED_NODES) return undefined;
      const target = resolve(reading.root, pointer);
      if (target === undefined) return undefined;
      inlined.add(pointer);
      parts.push({ part: target, above: new Set([...above, pointer]) });
    }
    if (Array.isArray(allOf)) parts.push(...allOf.map((member: unknown) => ({ part: member, above })));
    pending.unshift(...parts);
    const merged = merge(node, own);
    if (!merged) return undefined;
    node = merged;
  }
  return { node, inlined };
}

/** The pointer a `$ref` names, percent-decoded (`#/$defs/a%20b` → `/$defs/a b`); undefined outside the schema. */
function pointerOf(ref: string): string | undefined {
  if (ref !== '#' && !ref.startsWith('#/')) return undefined;
  try {
    return decodeURIComponent(ref.slice(1));
  } catch {
    return undefined;
  }
}

function resolve(root: unknown, pointer: string): unknown {
  if (pointer === '') return root;
  let at = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (at === null || typeof at !== 'object' || !Object.prototype.hasOwnProperty.call(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Both subschemas at once: `false` wins, `true` gives way, two schemas become an `allOf` read later. */
function both(a: unknown, b: unknown): unknown {
  if (a === false || b === false) return false;
  if (a === true || a === undefined) return b;
  if (b === true || b === undefined || sameJson(a, b)) return a;
  return { allOf: [a, b] };
}

/** What both type keywords allow ("integer" is a "number"); undefined when nothing is. */
function bothTypes(a: unknown, b: unknown): string | string[] | undefined {
  const list = (t: unknown) => (Array.isArray(t) ? t : [t]).filter((x): x is string => typeof x === 'string');
  const left = list(a);
  const right = list(b);
  const allows = (types: string[], t: string) => types.includes(t) || (t === 'integer' && types.includes('number'));
  const types = [...new Set([...left.filter((t) => allows(right, t)), ...right.filter((t) => allows(left, t))])];
  return types.length === 0 ? undefined : types.length === 1 ? types[0] : types;
}

const LOWER_BOUNDS = new Set(['minLength', 'minItems', 'minProperties', 'minimum', 'exclusiveMinimum']);
const UPPER_BOUNDS = new Set(['maxLength', 'maxItems', 'maxProperties', 'maximum', 'exclusiveMaximum']);

/** One node that requires what both do, as far as the grammar reads them; undefined where they conflict. */
function merge(a: Node, b: Node): Node | undefined {
  // Built as a Map: a schema's keys are user input ("__proto__" included).
  const merged = new Map(Object.entries(a));
  for (const [key, value] of Object.entries(b)) {
    const mine = merged.get(key);
    if (!merged.has(key)) {
      merged.set(key, value);
      continue;
    }
    if (sameJson(mine, value) || ANNOTATIONS.has(key)) continue; // the same, or a description: the first stays
    if (key === 'required' && Array.isArray(mine) && Array.isArray(value)) {
      merged.set(key, [...new Set([...mine, ...value])]);
    } else if (key === 'properties' && isNode(mine) && isNode(value)) {
      const properties = new Map(Object.entries(mine));
      for (const [name, schema] of Object.entries(value)) properties.set(name, both(properties.get(name), schema));
      merged.set(key, Object.fromEntries(properties));
    } else if (key === 'items' || key === 'additionalProperties') {
      merged.set(key, both(mine, value));
    } else if (key === 'type') {
      const types = bothTypes(mine, value);
      if (types === undefined) return undefined;
      merged.set(key, types);
    } else if (key === 'enum' && Array.isArray(mine) && Array.isArray(value)) {
      const common = mine.filter((v) => value.some((w) => sameJson(v, w)));
      if (common.length === 0) return undefined;
      merged.set(key, common);
    } else if (LOWER_BOUNDS.has(key) && typeof mine === 'number' && typeof value === 'number') {
      merged.set(key, Math.max(mine, value));
    } else if (UPPER_BOUNDS.has(key) && typeof mine === 'number' && typeof value === 'number') {
      merged.set(key, Math.min(mine, value));
    } else {
      return undefined;
    }
  }
  return Object.fromEntries(merged);
}

function grammarObject(node: Node, reading: Reading, inlined: ReadonlySet<string>): Node {
  const extra = node.additionalProperties;
  const extraSchema = isNode(extra) ? normalise(extra, reading, inlined) : extra;
  const given = isNode(node.properties) ? node.properties : {};
  // Built as a Map: a property may be called "__proto__" or "constructor".
  const properties = new Map<string, unknown>();
  for (const [name, schema] of Object.entries(given)) {
    if (schema !== false) properties.set(name, normalise(schema, reading, inlined)); // false: the property is absent
  }
  // node-llama-cpp writes exactly the properties listed: a required one must be listed to be written.
  const required = Array.isArray(node.required) ? node.required : [];
  for (const name of required) {
    if (typeof name === 'string' && !Object.hasOwn(given, name) && extra !== false) {
      properties.set(name, isNode(extraSchema) ? extraSchema : anyJson());
    }
  }
  const needsMore = properties.size === 0 || Number(node.minProperties ?? 0) > properties.size;
  const out: Node = { ...node, additionalProperties: extra === undefined && needsMore ? true : extraSchema };
  if (out.additionalProperties === undefined) delete out.additionalProperties;
  if (properties.size > 0 || 'properties' in node) out.properties = Object.fromEntries(properties);
  return withinItemLimits(out, 'minProperties', 'maxProperties');
}

function grammarArray(node: Node, reading: Reading, inlined: ReadonlySet<string>): Node {
  const out: Node = { ...node };
  const prefix = Array.isArray(node.prefixItems) ? node.prefixItems : undefined;
  if (prefix) out.prefixItems = prefix.map((p) => normalise(p, reading, inlined));
  if (node.items === false) {
    // No items past the prefix (node-llama-cpp would read `false` as items that are all null).
    delete out.items;
    out.maxItems = prefix?.length ?? 0;
  } else if (isNode(node.items)) {
    out.items = normalise(node.items, reading, inlined);
  } else {
    delete out.items; // any item: node-llama-cpp's own "any JSON"
  }
  return withinItemLimits(out, 'minItems', 'maxItems');
}

function grammarString(node: Node): Node {
  const out: Node = { ...node };
  // The answer's check still asserts the format (ajv-formats); the grammar writes a plain string for it.
  if ('format' in out && !isFormatted(out)) delete out.format;
  return withinLimits(out, 'minLength', 'maxLength', GRAMMAR_MAX_CHARS);
}

const withinItemLimits = (node: Node, min: string, max: string) => withinLimits(node, min, max, GRAMMAR_MAX_ITEMS);

/**
 * The node with bounds llama.cpp can parse: a maximum above `limit` lowered to it; a minimum above it lowered to
 * it with no maximum, so the grammar still allows the lengths the schema asks for (the check refuses the rest).
 */
function withinLimits(node: Node, min: string, max: string, limit: number): Node {
  const least = node[min];
  const most = node[max];
  if (typeof least === 'number' && least > limit) {
    const { [max]: _dropped, ...rest } = node;
    return { ...rest, [min]: limit };
  }
  return typeof most === 'number' && most > limit ? { ...node, [max]: limit } : node;
}

const isScalar = (value: unknown) => value === null || ['string', 'number', 'boolean'].includes(typeof value);

/** A schema allowing exactly `value`: node-llama-cpp takes scalars in `const` and `enum`, not objects or arrays. */
function literalSchema(value: unknown): Node | undefined {
  if (isScalar(value)) return { const: value };
  if (Array.isArray(value)) {
    const items = value.map(literalSchema);
    if (items.some((i) => i === undefined)) return undefined;
    return { type: 'array', prefixItems: items, maxItems: items.length };
  }
  if (!isNode(value)) return undefined;
  const properties = Object.entries(value).map(([key, v]) => [key, literalSchema(v)] as const);
  if (properties.some(([, schema]) => schema === undefined)) return undefined;
  return { type: 'object', properties: Object.fromEntries(properties), additionalProperties: false };
}
