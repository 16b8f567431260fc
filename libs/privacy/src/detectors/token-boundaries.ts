/**
 * Where a number-shaped identifier may start and end. A candidate glued to a letter, a digit or
 * number punctuation (`v4111…`, `…1111.50`, `#555-0100`, `$1,234`, `a1b2…` in a hash) is part of a
 * bigger token, so it is not an identifier of its own; a sentence's full stop or comma is fine.
 */
export const NUMBER_START = String.raw`(?<![\w.,+\-/@#$€£%])`;
export const NUMBER_END = String.raw`(?![\w@%]|[.,\-/]\d)`;

/** Space or no-break space, the separators people type inside grouped numbers. */
export const SPACE = String.raw`[ \u00a0]`;

/** True when `label` matches the text just before `start` (within `window` characters). */
export function hasLabelBefore(text: string, start: number, label: RegExp, window = 40): boolean {
  return label.test(text.slice(Math.max(0, start - window), start));
}
