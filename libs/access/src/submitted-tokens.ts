import { estimateTokens } from '#libs/routing/src/token-estimate.js';

/**
 * Tokens a batch body submits, estimated from its items' text (documents) or content (code) the way the
 * router estimates them. Malformed bodies count 0: validation answers them with a 400 right after.
 * A code migration naming a repository (`source`) counts 0 here: its files are read only after this check.
 */
export function submittedTokens(body: unknown): number {
  const items = (body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) return 0;
  let tokens = 0;
  for (const item of items) {
    const text = (item as { text?: unknown; content?: unknown } | null)?.text ?? (item as { content?: unknown } | null)?.content;
    if (typeof text === 'string') tokens += estimateTokens(text);
  }
  return tokens;
}
