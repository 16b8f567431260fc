import type { TokenUsage } from '#libs/domain';

/**
 * How an item too long for one call is split on a provider (libs/jobs runs it so): plain numbers,
 * computed at intake from the runners' own prompts and constants (libs/batches item-estimate), so that
 * the policy can tell, for each provider's context, how many calls the item makes there, what they
 * cost and whether it can run there at all. Issue 12 §4: a cloud context of 512 tokens made a ~4k-token
 * summary 174 calls, and failed an extract with none, while the policy counted one call on every provider.
 */
interface SplitBase {
  /** The answer limit (maxTokens) of the item's one call, whose prompt is the item's inputTokens. */
  maxTokens: number;
  /** Tokens of the content that is split: the document, or the file. */
  contentTokens: number;
  /** A part's prompt with its content left empty (the widest "part i of n"), in tokens. */
  partFrameTokens: number;
  /** The answer limit of a part's call: kept free in its context. */
  partMaxTokens: number;
  /** Room kept in a part's call for a retry's feedback (FEEDBACK_RESERVE_TOKENS). */
  reserveTokens: number;
  /** Fewest content tokens a part may hold (MIN_CHUNK_TOKENS, MIN_PART_TOKENS): fewer, and it cannot run. */
  minPartTokens: number;
}

/** A long document, map-reduced: chunks answered, then their answers combined (in rounds if one call is too small). */
export interface DocumentSplit extends SplitBase {
  kind: 'document';
  /** Share of each chunk repeated from the end of the one before. */
  overlapShare: number;
  /** A part's answer: `perContentToken` of what it reads, at least `min`, at most partMaxTokens. */
  partAnswer: { perContentToken: number; min: number };
  /** The prompt combining the parts' answers, with none in it, in tokens; each answer adds its tokens and tagTokens. */
  reduceFrameTokens: number;
  /** The final combining call's answer limit. */
  reduceMaxTokens: number;
  tagTokens: number;
}

/**
 * A file migrated in parts at top-level declarations: whenever its prompt does not fit one call, or the file
 * is longer than one answer (on any context) while a part can hold at least minPartTokens.
 */
export interface FileSplit extends SplitBase {
  kind: 'file';
  /** A part's rewrite must fit one answer: a part holds at most partMaxTokens / outputGrowth. */
  outputGrowth: number;
}

export type ItemSplit = DocumentSplit | FileSplit;

/** What the policy needs of an item to estimate its calls on a context. */
export interface SplittableItem {
  inputTokens: number;
  expectedOutputTokens: number;
  /** Absent: the item is one call wherever it runs (as items were before contexts were known). */
  split?: ItemSplit;
}

/** The calls an item makes on one context, and their tokens summed. */
export interface CallsEstimate {
  calls: number;
  usage: TokenUsage;
}

export type CallsOnContext = ({ ok: true } & CallsEstimate) | { ok: false; reason: string };

/**
 * The calls `item` makes on a provider whose calls hold `contextTokens` (prompt plus answer), as its runner
 * splits it: one call when its prompt and answer fit (or the context is unknown); otherwise its parts, and
 * for a document the rounds that combine their answers. Not ok when the context cannot hold the smallest
 * part the runner accepts (or the combining prompt with two answers): the runner would fail it there.
 */
export function callsOn(item: SplittableItem, contextTokens: number | undefined): CallsOnContext {
  const { split } = item;
  if (!split || contextTokens === undefined) return oneCall(item);
  const fitsWhole = item.inputTokens + split.maxTokens <= contextTokens;
  if (split.kind === 'file') return fileCalls(item, split, contextTokens, fitsWhole);
  return fitsWhole ? oneCall(item) : documentCalls(item, split, contextTokens);
}

function oneCall(item: SplittableItem): CallsOnContext {
  return { ok: true, calls: 1, usage: { inputTokens: item.inputTokens, outputTokens: item.expectedOutputTokens } };
}

/** Tokens left for a part's content in one call: the context less the part's prompt frame, answer, feedback reserve. */
export function partRoom(
  contextTokens: number,
  split: Pick<SplitBase, 'partFrameTokens' | 'partMaxTokens' | 'reserveTokens'>,
): number {
  return contextTokens - split.partFrameTokens - split.partMaxTokens - split.reserveTokens;
}

function tooSmall(contextTokens: number, room: number, min: number, what: string): CallsOnContext {
  const reason =
    `a context of ${contextTokens} tokens leaves ${Math.max(0, room)} tokens for a part of the ${what} ` +
    `after its prompt and answer; at least ${min} are needed`;
  return { ok: false, reason };
}

function documentCalls(item: SplittableItem, split: DocumentSplit, contextTokens: number): CallsOnContext {
  const room = partRoom(contextTokens, split);
  if (room < split.minPartTokens) return tooSmall(contextTokens, room, split.minPartTokens, 'document');
  const overlap = Math.floor(room * split.overlapShare);
  const chunks = split.contentTokens <= room ? 1 : 1 + Math.ceil((split.contentTokens - room) / (room - overlap));
  const read = split.contentTokens + (chunks - 1) * overlap;
  const { perContentToken, min } = split.partAnswer;
  const answer = (tokens: number) => Math.min(split.partMaxTokens, Math.max(min, Math.ceil(tokens * perContentToken)));
  let partial = answer(read / chunks);
  let calls = chunks;
  let inputTokens = chunks * split.partFrameTokens + read;
  let outputTokens = chunks * partial;
  // Combine in rounds until the answers fit one final call (as runLongDocument does).
  for (let left = chunks; ;) {
    const held = left * (partial + split.tagTokens);
    if (split.reduceFrameTokens + held + split.reduceMaxTokens <= contextTokens) {
      inputTokens += split.reduceFrameTokens + held;
      outputTokens += item.expectedOutputTokens;
      return { ok: true, calls: calls + 1, usage: { inputTokens, outputTokens } };
    }
    const groupRoom = contextTokens - split.reduceFrameTokens - split.partMaxTokens - split.reserveTokens;
    const perGroup = Math.floor(groupRoom / (partial + split.tagTokens));
    if (perGroup < 2 || left === 1) {
      const what = "the parts' answers with the prompt that combines them";
      return { ok: false, reason: `a context of ${contextTokens} tokens cannot hold ${what}` };
    }
    const groups = Math.ceil(left / perGroup);
    const combining = left % perGroup === 1 ? groups - 1 : groups; // a group of one is carried over, not asked
    const combined = answer(perGroup * partial);
    calls += combining;
    const asked = left - (combining < groups ? 1 : 0); // the answers that go into a combining call
    inputTokens += combining * split.reduceFrameTokens + asked * (partial + split.tagTokens);
    outputTokens += combining * combined;
    partial = combined;
    left = groups;
  }
}

function fileCalls(item: SplittableItem, split: FileSplit, contextTokens: number, fitsWhole: boolean): CallsOnContext {
  const budget = Math.min(partRoom(contextTokens, split), Math.floor(split.partMaxTokens / split.outputGrowth));
  const inParts = !fitsWhole || (split.contentTokens > split.maxTokens && budget >= split.minPartTokens);
  if (!inParts) return oneCall(item);
  if (budget < split.minPartTokens) return tooSmall(contextTokens, budget, split.minPartTokens, 'file');
  const parts = Math.max(1, Math.ceil(split.contentTokens / budget));
  // Every part's prompt repeats the frame; together the parts' answers are the whole file rewritten.
  const inputTokens = parts * split.partFrameTokens + split.contentTokens;
  return { ok: true, calls: parts, usage: { inputTokens, outputTokens: item.expectedOutputTokens } };
}
