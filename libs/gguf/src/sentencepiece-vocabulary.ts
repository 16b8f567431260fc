import { CODE_PUNCTUATION, CODE_WORDS, ENGLISH_WORDS } from './tokenizer-corpus.js';

/**
 * A SentencePiece-style ("llama" tokenizer model) vocabulary for generated models.
 *
 * llama.cpp's SPM tokenizer maps spaces to U+2581, starts from single characters and repeatedly
 * merges the adjacent pair whose concatenation is a vocabulary piece with the highest score;
 * characters no piece covers fall back to the <0xNN> byte tokens. So every multi-character piece
 * must be reachable by merging two pieces, and scores must rank merges. Training a byte-pair
 * vocabulary on a small word corpus gives both: each merge's result is a piece, scored by merge
 * order. Pieces beyond what the corpus yields are one-letter extensions of existing pieces
 * (reachable, rarely used), there to reach a realistic vocabulary size such as 32000.
 */

export const SPACE_PIECE = '\u2581';

/** llama.cpp's llama_token_attr / token_type values. */
export const TokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export interface SentencePieceVocabulary {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
  unknownId: number;
  bosId: number;
  eosId: number;
  /** ChatML turn markers, control tokens used by the generated chat template. */
  imStartId: number;
  imEndId: number;
}

const SPECIALS = ['<unk>', '<s>', '</s>'] as const;
const CHAT_SPECIALS = ['<|im_start|>', '<|im_end|>'] as const;
/** English letter frequency order, so filler pieces prefer plausible extensions. */
const LETTERS_BY_FREQUENCY = 'etaoinshrdlcumwfgypbvkjxqz';

const cache = new Map<number, SentencePieceVocabulary>();

/** Deterministic: the same size always yields the same vocabulary. */
export function buildSentencePieceVocabulary(size: number): SentencePieceVocabulary {
  const cached = cache.get(size);
  if (cached) return cached;
  const baseChars = [SPACE_PIECE, ...Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i))];
  const fixed = SPECIALS.length + 256 + baseChars.length + CHAT_SPECIALS.length;
  if (!Number.isInteger(size) || size < fixed) throw new RangeError(`vocabulary size must be an integer >= ${fixed}`);

  const pieces: string[] = [];
  const known = new Set<string>(baseChars);
  for (const merged of trainMerges(corpusUnits(), size - fixed)) {
    pieces.push(merged);
    known.add(merged);
  }
  for (const filler of fillerPieces(pieces, known, size - fixed - pieces.length)) {
    pieces.push(filler);
    known.add(filler);
  }

  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const add = (token: string, score: number, type: number): number => {
    tokens.push(token);
    scores.push(score);
    types.push(type);
    return tokens.length - 1;
  };
  const unknownId = add(SPECIALS[0], 0, TokenType.unknown);
  const bosId = add(SPECIALS[1], 0, TokenType.control);
  const eosId = add(SPECIALS[2], 0, TokenType.control);
  for (let byte = 0; byte < 256; byte++) {
    add(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`, 0, TokenType.byte);
  }
  // Earlier merges score higher, so the tokenizer replays the training merge order.
  pieces.forEach((piece, rank) => add(piece, -rank, TokenType.normal));
  baseChars.forEach((char, i) => add(char, -(pieces.length + i), TokenType.normal));
  const imStartId = add(CHAT_SPECIALS[0], 0, TokenType.control);
  const imEndId = add(CHAT_SPECIALS[1], 0, TokenType.control);

  const vocabulary: SentencePieceVocabulary = {
    tokens,
    scores: Float32Array.from(scores),
    types: Int32Array.from(types),
    unknownId,
    bosId,
    eosId,
    imStartId,
    imEndId,
  };
  cache.set(size, vocabulary);
  return vocabulary;
}

interface Unit {
  symbols: string[];
  weight: number;
}

/** Corpus units as SentencePiece sees them (a leading space becomes U+2581), Zipf-weighted by rank. */
function corpusUnits(): Unit[] {
  const weights = new Map<string, number>();
  const addUnit = (text: string, weight: number): void => {
    weights.set(text, (weights.get(text) ?? 0) + weight);
  };
  const words = (list: string): string[] => [...new Set(list.split(/\s+/).filter(Boolean))];
  words(ENGLISH_WORDS).forEach((word, rank) => {
    const weight = 1 / (rank + 10);
    addUnit(SPACE_PIECE + word, weight);
    addUnit(SPACE_PIECE + word[0]!.toUpperCase() + word.slice(1), weight / 4);
    addUnit(word, weight / 8);
  });
  words(CODE_WORDS).forEach((word, rank) => {
    const weight = 0.5 / (rank + 10);
    addUnit(SPACE_PIECE + word, weight);
    addUnit(word, weight / 2);
  });
  CODE_PUNCTUATION.forEach((run) => addUnit(run.replaceAll(' ', SPACE_PIECE), 0.02));
  return [...weights].map(([text, weight]) => ({ symbols: Array.from(text), weight }));
}

/** Byte-pair training: returns merged pieces, most valuable first, at most `limit`. */
function trainMerges(units: Unit[], limit: number): string[] {
  const pairKey = (a: string, b: string): string => `${a}\u0000${b}`;
  const counts = new Map<string, number>();
  const countPairs = (unit: Unit, sign: 1 | -1): void => {
    for (let i = 0; i + 1 < unit.symbols.length; i++) {
      const key = pairKey(unit.symbols[i]!, unit.symbols[i + 1]!);
      const next = (counts.get(key) ?? 0) + sign * unit.weight;
      if (next > 1e-12) counts.set(key, next);
      else counts.delete(key);
    }
  };
  units.forEach((unit) => countPairs(unit, 1));

  const merges: string[] = [];
  const seen = new Set<string>();
  while (merges.length < limit && counts.size > 0) {
    let bestKey = '';
    let bestCount = -1;
    for (const [key, count] of counts) {
      if (count > bestCount || (count === bestCount && key < bestKey)) {
        bestKey = key;
        bestCount = count;
      }
    }
    const [a, b] = bestKey.split('\u0000') as [string, string];
    for (const unit of units) {
      if (!containsPair(unit.symbols, a, b)) continue;
      countPairs(unit, -1);
      const merged: string[] = [];
      for (let i = 0; i < unit.symbols.length; i++) {
        if (i + 1 < unit.symbols.length && unit.symbols[i] === a && unit.symbols[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else {
          merged.push(unit.symbols[i]!);
        }
      }
      unit.symbols = merged;
      countPairs(unit, 1);
    }
    counts.delete(bestKey);
    // Different merges can spell the same piece ("▁t"+"he", "▁th"+"e"); a piece is listed once.
    if (!seen.has(a + b)) {
      seen.add(a + b);
      merges.push(a + b);
    }
  }
  return merges;
}

function containsPair(symbols: readonly string[], a: string, b: string): boolean {
  for (let i = 0; i + 1 < symbols.length; i++) if (symbols[i] === a && symbols[i + 1] === b) return true;
  return false;
}

/** One-letter extensions of word-like pieces, most frequent letters first, until `count` are found. */
function fillerPieces(pieces: readonly string[], known: Set<string>, count: number): string[] {
  const fillers: string[] = [];
  let frontier = [SPACE_PIECE, ...pieces.filter((piece) => /^\u2581?[a-z]+$/.test(piece))];
  while (fillers.length < count && frontier.length > 0) {
    const next: string[] = [];
    for (const letter of LETTERS_BY_FREQUENCY) {
      for (const piece of frontier) {
        const candidate = piece + letter;
        if (known.has(candidate)) continue;
        known.add(candidate);
        fillers.push(candidate);
        next.push(candidate);
        if (fillers.length === count) return fillers;
      }
    }
    frontier = next;
  }
  return fillers;
}
