import { describe, expect, it } from '@jest/globals';
import { requestIdFrom } from './request-id.js';

describe('requestIdFrom', () => {
  const fresh = () => 'fresh-id';

  it.each([
    ['a UUID', '3f1c2a9e-5b7d-4e2f-9a41-0c6d8e7f1b23'],
    ['a ULID', '01HZX3Q8Y7K9M2N4P6R8T0V2W4'],
    ['a W3C trace id with a span', '4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7'],
    ['128 characters', 'a'.repeat(128)],
  ])("keeps the caller's id when it is %s", (_what, id) => {
    expect(requestIdFrom(id, fresh)).toEqual({ id, source: 'accepted' });
  });

  it('generates one when none was sent', () => {
    expect(requestIdFrom(undefined, fresh)).toEqual({ id: 'fresh-id', source: 'generated' });
    expect(requestIdFrom(undefined).id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it.each([
    ['too long', 'a'.repeat(129)],
    ['empty', ''],
    ['with a space', 'abc def'],
    ['with a quote that could close a JSON string', 'abc"def'],
    ['with a newline that could forge a log line', 'abc\n{"level":"log"}'],
    ['with non-ASCII letters', 'idé'],
    ['sent twice', ['a', 'b']],
  ])('replaces one %s', (_what, header) => {
    expect(requestIdFrom(header, fresh)).toEqual({ id: 'fresh-id', source: 'replaced' });
  });
});
