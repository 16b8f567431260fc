/**
 * Every string in a value, object keys included, and every number as JSON writes it. A chat item's body is sent to
 * its provider as it is, so every string of it is scanned: the messages, and the response_format's schema (names,
 * descriptions, enums) and stop sequences the provider reads too. A number leaves as its digits just the same: a
 * card number in a schema's `enum`, `const` or `examples`, or as a `seed`, is read by the provider and its model.
 * Iterative: the body's depth is bounded, but a walk needs no stack either way.
 */
export function textsIn(value: unknown): string[] {
  const texts: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const next = stack.pop();
    if (typeof next === 'string') texts.push(next);
    else if (typeof next === 'number') texts.push(JSON.stringify(next));
    else if (Array.isArray(next)) stack.push(...next);
    else if (next !== null && typeof next === 'object') {
      for (const [key, child] of Object.entries(next)) {
        texts.push(key);
        stack.push(child);
      }
    }
  }
  return texts;
}
