import { z } from 'zod';
import { fieldPath, parseZonedTimestamp, type FieldError } from '#libs/domain';
import { SCOPES, type KeyLimits, type Scope } from './api-key.js';

/** What creating a key takes, from POST /v1/keys or `npm run keys -- create`. */
export interface NewKey {
  name: string;
  scopes: Scope[];
  tenant?: string;
  expiresAt: number | null;
  limits: KeyLimits;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;
const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const limit = z
  .number({ error: 'must be a number' })
  .int('must be an integer')
  .min(0, 'must be 0 (unlimited) or more')
  .optional();

/** POST /v1/keys's body as zod checks it; the API's OpenAPI document is generated from it. */
export const newKeySchema = z.object({
  name: z
    .string({ error: 'must be a string' })
    .regex(NAME, 'must be letters, digits, space, ".", "-" or "_" (up to 100)'),
  scopes: z
    .array(z.enum(SCOPES, { error: `must each be one of ${SCOPES.join(', ')}` }), {
      error: `must be an array of ${SCOPES.join(', ')}`,
    })
    .min(1, 'needs at least one scope'),
  tenant: z
    .string({ error: 'must be a string' })
    .regex(TENANT, 'must be letters, digits, ".", "-" or "_" (up to 100)')
    .optional(),
  expiresAt: z.string({ error: 'must be an ISO-8601 timestamp with a zone' }).optional(),
  limits: z
    .object(
      { requestsPerMinute: limit, tokensPerMinute: limit },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys'
            ? `has no field ${issue.keys.map((k) => `"${k}"`).join(', ')}: it takes requestsPerMinute and tokensPerMinute`
            : 'must be an object',
      },
    )
    .strict()
    .optional(),
});

/** Validates a new key's fields, naming each wrong one. Pure: `now` decides whether an expiry is past. */
export function checkNewKey(
  body: unknown,
  now: number,
): { ok: true; key: NewKey } | { ok: false; errors: FieldError[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, errors: [{ field: 'body', message: 'must be a JSON object' }] };
  const parsed = newKeySchema.safeParse(body);
  if (!parsed.success) {
    return {
      ok: false,
      // Named as a batch's fields are (`scopes[1]`); an unknown field of `limits` keeps its own message, which names both it takes.
      errors: parsed.error.issues.map((i) => ({ field: fieldPath(i.path), message: i.message })),
    };
  }
  const { name, scopes, tenant, expiresAt, limits } = parsed.data;
  let expiry: number | null = null;
  if (expiresAt !== undefined) {
    // Read strictly: Date.parse rolls 2027-02-30 over to 2 March, a credential living longer than asked.
    const read = parseZonedTimestamp(expiresAt);
    if (!read.ok) {
      const form = 'must be an ISO-8601 timestamp with a zone, e.g. 2027-01-01T00:00:00Z';
      const why =
        read.wrong === 'date'
          ? `; ${expiresAt.slice(0, 10)} is not a date in the calendar`
          : read.wrong === 'time'
            ? `; ${expiresAt.slice(11)} is not a time of day`
            : '';
      return { ok: false, errors: [{ field: 'expiresAt', message: `${form}${why}` }] };
    }
    expiry = read.at;
    if (expiry <= now) return { ok: false, errors: [{ field: 'expiresAt', message: 'is in the past' }] };
  }
  return { ok: true, key: { name, scopes: [...new Set(scopes)], tenant, expiresAt: expiry, limits: limits ?? {} } };
}
