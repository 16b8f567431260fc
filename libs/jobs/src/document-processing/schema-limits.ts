/**
 * What an extract schema may hold, checked at submission before anything compiles it (issue 13 §4). A schema
 * is user input that the API compiles and the worker runs against every answer: `{"$ref": "#"}` overflowed
 * the worker's stack on each answer (5 paid attempts), a 136 KB schema blocked the API for 9 s, and
 * `"pattern": "^(a+)+$"` took 88 s on a 31-character answer. The walk here is iterative and linear in the
 * schema's size, so refusing a huge schema costs no more than reading it.
 */

/** Bytes of the schema as JSON. Real extraction schemas are a few KiB; ajv compiles 64 KiB in ~1 s here. */
export const MAX_SCHEMA_BYTES = 64 * 1024;
/** Nesting of objects and arrays inside the schema (an object property holding an object is 2 levels). */
export const MAX_SCHEMA_DEPTH = 32;
/** Subschemas and other objects inside the schema: what ajv generates code for. */
export const MAX_SCHEMA_NODES = 2000;

// Keywords whose values are data, not subschemas: a "$ref" key inside an enum value is not a reference.
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples']);
// Keywords whose value maps names to subschemas: the names are not keywords (a property may be called "pattern").
const NAMED_SUBSCHEMAS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);

/**
 * Why `schema` is refused, completing "task.schema is refused: …", or null when it is within the limits,
 * holds no regular expression and cannot recurse:
 * - `pattern` and `patternProperties` are refused: JavaScript's regex engine backtracks, so a pattern such as
 *   `^(a+)+$` can take minutes on a short answer, and telling safe patterns from unsafe ones reliably needs a
 *   linear-time engine (RE2) this project does not ship. `enum`, `format`, `minLength`/`maxLength` cover what
 *   extraction schemas use patterns for.
 * - `$dynamicRef` and `$recursiveRef` are refused (they exist to recurse), as are `$ref`s that are not a JSON
 *   pointer into this schema (`#` or `#/…`), a nested `$id` (it would move what `#` means), references to
 *   nothing, and any cycle of references: an answer is finite, a schema that refers to itself is not.
 */
export function schemaRefusal(schema: Record<string, unknown>): string | null {
  const bytes = Buffer.byteLength(JSON.stringify(schema), 'utf8');
  if (bytes > MAX_SCHEMA_BYTES) return `it is ${bytes} bytes as JSON; a schema holds at most ${MAX_SCHEMA_BYTES}`;

  // Every reference, as (pointer of the schema holding it, pointer it refers to).
  const refs: Array<{ at: string; to: string }> = [];
  const stack: Array<{ value: unknown; depth: number; pointer: string; keywords: boolean }> = [
    { value: schema, depth: 1, pointer: '', keywords: true },
  ];
  let nodes = 0;
  while (stack.length > 0) {
    const { value, depth, pointer, keywords } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (++nodes > MAX_SCHEMA_NODES) return `it holds more than ${MAX_SCHEMA_NODES} objects and arrays`;
    if (depth > MAX_SCHEMA_DEPTH) return `it nests deeper than ${MAX_SCHEMA_DEPTH} levels (at ${pointer})`;
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    for (const [key, child] of entries) {
      const at = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (keywords && !Array.isArray(value)) {
        if (key === 'pattern' || key === 'patternProperties') {
          return (
            `"${key}" at ${at} is not supported: regular expressions here backtrack (a pattern can take minutes ` +
            'on a short answer); use enum, format or minLength/maxLength'
          );
        }
        if (key === '$dynamicRef' || key === '$recursiveRef') {
          return `"${key}" at ${at} is not supported: answers are finite, recursive schemas are refused`;
        }
        if (key === '$id' && pointer !== '') return `a nested "$id" (at ${at}) is not supported`;
        if (key === '$ref' && typeof child === 'string') {
          if (child !== '#' && !child.startsWith('#/')) {
            const ref = JSON.stringify(child.slice(0, 100));
            return `"$ref" ${ref} at ${at} is not supported: only "#" or "#/…" pointers into this schema`;
          }
          let to: string;
          try {
            to = decodeURIComponent(child.slice(1));
          } catch {
            return `"$ref" at ${at} is not a valid URI fragment`;
          }
          refs.push({ at: pointer, to });
        }
        if (DATA_KEYWORDS.has(key)) continue;
      }
      // Inside `properties` and the like, keys are names; their values are schemas again.
      const childKeywords = Array.isArray(value) ? keywords : !(keywords && NAMED_SUBSCHEMAS.has(key));
      stack.push({ value: child, depth: depth + 1, pointer: at, keywords: childKeywords });
    }
  }
  return refs.length === 0 ? null : referenceProblem(schema, refs);
}

/**
 * A reference cycle, or a reference to nothing. Following a `$ref` to T checks the answer against T's whole
 * subtree, so T "leads to" every target referenced inside it; the schema recurses without bound exactly
 * when some target leads back to itself (a reference to an ancestor, `#` included, is the shortest cycle).
 */
function referenceProblem(schema: Record<string, unknown>, refs: Array<{ at: string; to: string }>): string | null {
  for (const { to } of refs) {
    if (!resolves(schema, to)) return `"$ref" "#${to}" refers to nothing in the schema`;
  }
  const inside = (target: string, at: string) => target === '' || at === target || at.startsWith(`${target}/`);
  const targets = [...new Set(refs.map((r) => r.to))];
  const next = new Map(targets.map((t) => [t, [...new Set(refs.filter((r) => inside(t, r.at)).map((r) => r.to))]]));
  // Depth-first search for a cycle; iterative, with the three colours of the textbook.
  const state = new Map<string, 'open' | 'done'>();
  for (const start of targets) {
    if (state.has(start)) continue;
    const path: Array<{ node: string; edges: string[] }> = [{ node: start, edges: [...next.get(start)!] }];
    state.set(start, 'open');
    while (path.length > 0) {
      const top = path[path.length - 1];
      const edge = top.edges.pop();
      if (edge === undefined) {
        state.set(top.node, 'done');
        path.pop();
      } else if (state.get(edge) === 'open') {
        const why = 'answers are finite; recursive schemas are refused';
        return `"$ref" "#${edge}" makes the schema refer to itself without end (${why})`;
      } else if (!state.has(edge)) {
        state.set(edge, 'open');
        path.push({ node: edge, edges: [...next.get(edge)!] });
      }
    }
  }
  return null;
}

function resolves(schema: unknown, pointer: string): boolean {
  if (pointer === '') return true;
  let at = schema;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (at === null || typeof at !== 'object' || !Object.prototype.hasOwnProperty.call(at, key)) return false;
    at = (at as Record<string, unknown>)[key];
  }
  return true;
}
