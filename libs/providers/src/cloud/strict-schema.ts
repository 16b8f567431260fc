/**
 * Whether a JSON Schema fits the subset OpenAI's Structured Outputs accept with `strict: true`: every object
 * closed (`additionalProperties: false`) with every property required, and no keyword outside the subset
 * (conditionals, negation, intersections, dependent and pattern properties). The API refuses any other
 * schema in strict mode with a 400, so such a schema is sent with `strict: false`: decoding is guided
 * rather than constrained, and our own check (ajv) validates the answer either way. Per-chunk extract
 * schemas are relaxed (nothing required), so they always go this way.
 */
const OUTSIDE_STRICT_SUBSET = [
  'allOf',
  'not',
  'if',
  'then',
  'else',
  'dependentRequired',
  'dependentSchemas',
  'patternProperties',
  'unevaluatedProperties',
  'propertyNames',
  'minProperties',
  'maxProperties',
];

export function fitsStrictMode(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return typeof schema === 'boolean' ? false : true;
  if (Array.isArray(schema)) return schema.every(fitsStrictMode);
  const node = schema as Record<string, unknown>;
  if (OUTSIDE_STRICT_SUBSET.some((k) => k in node)) return false;
  const properties = node.properties as Record<string, unknown> | undefined;
  const isObject =
    node.type === 'object' || (Array.isArray(node.type) && node.type.includes('object')) || properties !== undefined;
  if (isObject) {
    if (node.additionalProperties !== false) return false;
    const required = new Set(Array.isArray(node.required) ? node.required : []);
    if (Object.keys(properties ?? {}).some((k) => !required.has(k))) return false;
  }
  const children = [
    ...Object.values(properties ?? {}),
    ...Object.values((node.$defs ?? node.definitions ?? {}) as Record<string, unknown>),
    ...(Array.isArray(node.anyOf) ? node.anyOf : []),
    ...(Array.isArray(node.prefixItems) ? node.prefixItems : []),
    ...(node.items !== undefined ? [node.items] : []),
  ];
  return children.every(fitsStrictMode);
}
