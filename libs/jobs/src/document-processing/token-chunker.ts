/**
 * Counts tokens: a tokenizer (returning the tokens, e.g. node-llama-cpp's `model.tokenize`) or a
 * counting function (e.g. `estimateTokens`).
 */
export type TokenMeasure = (text: string) => number | readonly unknown[];

export interface TokenChunkOptions {
  /** Most tokens in a chunk, overlap included. */
  chunkTokens: number;
  /** Most tokens a chunk repeats from the end of the one before it, so no sentence loses its context. */
  overlapTokens: number;
}

export interface TextChunk {
  index: number;
  /** Offsets into the text: `text.slice(start, end)` is the chunk. */
  start: number;
  end: number;
  text: string;
  /** The sum of its pieces' counts (a tokenizer may merge a token or two across a piece boundary). */
  tokens: number;
}

/** How good a place to cut the boundary after a piece is: higher is better. */
const Boundary = { Character: 0, Word: 1, Sentence: 2, Paragraph: 3 } as const;
type Boundary = (typeof Boundary)[keyof typeof Boundary];

interface Piece {
  start: number;
  end: number;
  tokens: number;
  /** The kind of break that ends this piece. */
  boundary: Boundary;
}

/**
 * Splits a long document into overlapping chunks for map-reduce. The chunks cover the whole text in
 * order: the first starts at 0, the last ends at text.length, and each starts at or before the end of
 * the one before. A chunk closes at the best boundary in its second half — a paragraph break over a
 * sentence end (or line break) over a space — and cuts inside a word only when a word alone exceeds
 * `chunkTokens`. The overlap likewise starts at a sentence where it can. Deterministic.
 */
export function chunkByTokens(text: string, options: TokenChunkOptions, measure: TokenMeasure): TextChunk[] {
  const { chunkTokens, overlapTokens } = options;
  if (!Number.isInteger(chunkTokens) || chunkTokens < 1)
    throw new RangeError(`chunkTokens must be a positive integer, got ${chunkTokens}`);
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens >= chunkTokens) {
    throw new RangeError(`overlapTokens must be an integer in [0, chunkTokens), got ${overlapTokens}`);
  }
  if (text === '') return [];
  const count = (s: string) => {
    const measured = measure(s);
    return typeof measured === 'number' ? measured : measured.length;
  };
  // Pieces no larger than the overlap, so an overlap can always be found at some boundary.
  const grain = overlapTokens > 0 ? overlapTokens : chunkTokens;
  const pieces = sentencePieces(text).flatMap((piece) => {
    piece.tokens = count(text.slice(piece.start, piece.end));
    return piece.tokens > grain ? wordPieces(text, piece, grain, chunkTokens, count) : [piece];
  });
  return pack(text, pieces, chunkTokens, overlapTokens);
}

/** Sentence ends (punctuation before whitespace), line breaks and paragraph breaks, with the whitespace after them. */
function sentencePieces(text: string): Piece[] {
  const pieces: Piece[] = [];
  const breaks = /(?:[.!?]+["'”’)\]]*(?=\s)|[。！？]+|\n)\s*/g;
  let start = 0;
  for (let match = breaks.exec(text); match !== null; match = breaks.exec(text)) {
    const end = match.index + match[0].length;
    const paragraph = (match[0].match(/\n/g)?.length ?? 0) >= 2;
    pieces.push({ start, end, tokens: 0, boundary: paragraph ? Boundary.Paragraph : Boundary.Sentence });
    start = end;
  }
  if (start < text.length) pieces.push({ start, end: text.length, tokens: 0, boundary: Boundary.Paragraph });
  return pieces;
}

/** A long sentence as groups of words of at most `grain` tokens; a word over `chunkTokens` is cut. */
function wordPieces(
  text: string,
  sentence: Piece,
  grain: number,
  chunkTokens: number,
  count: (s: string) => number,
): Piece[] {
  const words: Piece[] = [];
  const wordRe = /\S+\s*|\s+/g;
  const body = text.slice(sentence.start, sentence.end);
  for (let match = wordRe.exec(body); match !== null; match = wordRe.exec(body)) {
    const start = sentence.start + match.index;
    const end = start + match[0].length;
    const tokens = count(match[0]);
    if (tokens > chunkTokens) words.push(...characterPieces(text, start, end, chunkTokens, count));
    else words.push({ start, end, tokens, boundary: Boundary.Word });
  }
  const groups: Piece[] = [];
  for (const word of words) {
    const last = groups.at(-1);
    if (
      last &&
      last.boundary === Boundary.Word &&
      word.boundary === Boundary.Word &&
      last.tokens + word.tokens <= grain
    ) {
      last.end = word.end;
      last.tokens += word.tokens;
    } else {
      groups.push({ ...word });
    }
  }
  groups[groups.length - 1].boundary = sentence.boundary;
  return groups;
}

/** The longest prefixes of at most `chunkTokens` tokens, found by bisection; never splits a surrogate pair. */
function characterPieces(
  text: string,
  start: number,
  end: number,
  chunkTokens: number,
  count: (s: string) => number,
): Piece[] {
  const pieces: Piece[] = [];
  while (start < end) {
    let lo = start + 1;
    let hi = end;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (count(text.slice(start, mid)) <= chunkTokens) lo = mid;
      else hi = mid - 1;
    }
    let cut = lo;
    if (cut < end && cut - start > 1 && isLowSurrogate(text.charCodeAt(cut))) cut--;
    pieces.push({ start, end: cut, tokens: count(text.slice(start, cut)), boundary: Boundary.Character });
    start = cut;
  }
  return pieces;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function pack(text: string, pieces: Piece[], chunkTokens: number, overlapTokens: number): TextChunk[] {
  const chunks: TextChunk[] = [];
  let first = 0; // first piece of the chunk, overlap included
  let fresh = 0; // first piece not in any chunk yet
  while (fresh < pieces.length) {
    let tokens = sum(pieces, first, fresh);
    // The overlap gives way when it leaves no room for the next new piece.
    while (first < fresh && tokens + pieces[fresh].tokens > chunkTokens) tokens -= pieces[first++].tokens;
    let end = fresh;
    while (end < pieces.length && (end === fresh || tokens + pieces[end].tokens <= chunkTokens))
      tokens += pieces[end++].tokens;
    if (end < pieces.length) end = bestCut(pieces, first, fresh, end, chunkTokens);
    chunks.push({
      index: chunks.length,
      start: pieces[first].start,
      end: pieces[end - 1].end,
      text: text.slice(pieces[first].start, pieces[end - 1].end),
      tokens: sum(pieces, first, end),
    });
    if (end === pieces.length) break;
    first = overlapStart(pieces, first, end, overlapTokens);
    fresh = end;
  }
  return chunks;
}

/** Among the cuts that keep at least half a chunk and one new piece, the strongest boundary, latest on a tie. */
function bestCut(pieces: Piece[], first: number, fresh: number, end: number, chunkTokens: number): number {
  let best = end;
  let tokens = sum(pieces, first, end);
  for (let cut = end - 1; cut > fresh && tokens - pieces[cut].tokens >= chunkTokens / 2; cut--) {
    tokens -= pieces[cut].tokens;
    if (pieces[cut - 1].boundary > pieces[best - 1].boundary) best = cut;
  }
  return best;
}

/** Where the next chunk starts: the strongest boundary whose tail fits the overlap, the longest tail on a tie. */
function overlapStart(pieces: Piece[], first: number, end: number, overlapTokens: number): number {
  let best = end;
  let tokens = 0;
  for (let start = end - 1; start > first && tokens + pieces[start].tokens <= overlapTokens; start--) {
    tokens += pieces[start].tokens;
    if (best === end || pieces[start - 1].boundary >= pieces[best - 1].boundary) best = start;
  }
  return best;
}

function sum(pieces: Piece[], from: number, to: number): number {
  let total = 0;
  for (let i = from; i < to; i++) total += pieces[i].tokens;
  return total;
}
