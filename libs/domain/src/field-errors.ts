import type { z } from 'zod';

/** One wrong field of a request body, as every 400 names it. */
export interface FieldError {
  /** Path of the offending field, e.g. `items[3].text`. */
  field: string;
  message: string;
}

/** `["items", 3, "text"]` → `items[3].text` */
export function fieldPath(path: readonly PropertyKey[]): string {
  return (
    path.reduce<string>(
      (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
      '',
    ) || 'body'
  );
}

/**
 * zod's issues as field errors. An unknown field is named itself (`items[0].sensitivty`), not its object,
 * one error per field.
 */
export function fieldErrors(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => ({ field: fieldPath([...i.path, key]), message: 'is not a known field' }))
      : [{ field: fieldPath(i.path), message: i.message }],
  );
}
