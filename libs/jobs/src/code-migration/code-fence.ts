/**
 * Models wrap answers in a Markdown code fence (often with a line of prose around it) despite being
 * told not to. This finds that wrapper without eating fences that belong to the content itself: it
 * counts fence lines in the answer against those in the original file, so a Markdown file with its
 * own ``` blocks keeps them.
 */
export type FenceUnwrap =
  /** No wrapper: `text` is the answer as it came. */
  | { kind: 'bare'; text: string }
  /** `text` is the lines between the wrapper's fences, each with its line break; prose around it is dropped. */
  | { kind: 'unwrapped'; text: string }
  /** A fence is opened and never closed: the answer was most likely cut off. */
  | { kind: 'unclosed' }
  /** More fences than one wrapper explains: several code blocks, which one is the file is a guess. */
  | { kind: 'several'; fences: number };

// CommonMark: up to 3 spaces of indent, then 3+ backticks or tildes; a backtick fence's info string has no backtick.
const FENCE = /^ {0,3}(`{3,}(?=[^`]*$)|~{3,})(.*)$/;

/** Strips the Markdown code fence a model put around its answer. `original` is the input the answer rewrites ('' if none). */
export function unwrapCodeFence(answer: string, original = ''): FenceUnwrap {
  const lines = answer.split('\n');
  const fenceLines = lines.flatMap((line, i) => (isFence(line) ? [i] : []));
  const extra = fenceLines.length - countFences(original);
  if (extra <= 0) return { kind: 'bare', text: answer };
  if (extra === 1) return { kind: 'unclosed' };
  if (extra > 2) return { kind: 'several', fences: extra };

  const open = fenceLines[0];
  const close = fenceLines[fenceLines.length - 1];
  const opener = FENCE.exec(stripCr(lines[open]))!;
  const closer = FENCE.exec(stripCr(lines[close]))!;
  // The closing fence uses the opener's character, is at least as long, and has no info string.
  const closes = closer[1][0] === opener[1][0] && closer[1].length >= opener[1].length && closer[2].trim() === '';
  if (!closes) return { kind: 'unclosed' };
  return {
    kind: 'unwrapped',
    text: lines
      .slice(open + 1, close)
      .map((line) => `${line}\n`)
      .join(''),
  };
}

function isFence(line: string): boolean {
  return FENCE.test(stripCr(line));
}

function countFences(text: string): number {
  return text === '' ? 0 : text.split('\n').filter(isFence).length;
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
