/**
 * A schema's own message for a value of the wrong type, and for nothing else. Given as a plain string
 * (`z.number({ error: 'must be a number' })`), zod answers every issue the schema raises with it, its bounds
 * included: a temperature of 3 read "must be a number", a 600-character item id "must be a string". With this, a
 * bound without a message of its own says what it is ("Too big: expected string to have <=512 characters").
 */
export function wrongType(message: string): { error: (issue: { code?: string }) => string | undefined } {
  return { error: (issue) => (issue.code === 'invalid_type' ? message : undefined) };
}
