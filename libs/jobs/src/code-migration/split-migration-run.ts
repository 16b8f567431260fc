import type { CodeMigrationTask } from '#libs/domain';
import { codeMigrationPrompt } from '../code-migration-prompt.js';
import {
  askChecked,
  fitsOneCall,
  roomIn,
  withFeedback,
  type Asked,
  type CallTally,
  type ItemModel,
  type RejectionListener,
} from '../model-calls.js';
import { contextShort, type ContextShort } from '../context-short.js';
import type { Prompt } from '../prompt.js';
import { splitAtTopLevelDeclarations } from './declaration-splitter.js';
import { migrationExpectations, type MigrationExpectations } from './migration-presets.js';
import { validateMigratedFile, type MigratedFileCheck } from './output-validator.js';
import { MAX_VALIDATION_RETRIES, validationFeedback, type ValidationFailure } from './retry-prompt.js';
import { unifiedDiff } from './unified-diff.js';

/**
 * How much longer than its input a rewritten part may come out (CommonJS → ES modules barely changes
 * the length; JavaScript → TypeScript adds annotations): a part is sized so its answer fits maxTokens.
 */
export const OUTPUT_GROWTH = 1.25;
/** Below this a part is a line or two: the context or maxTokens is too small for a migration. */
export const MIN_PART_TOKENS = 32;

export type MigratedFile = { content: string; diff: string | null };

/**
 * Whether a file is migrated in parts: its prompt does not fit one call, or the file alone is longer than
 * one answer — unless parts could hold hardly anything (maxTokens of a few dozen tokens) while the whole
 * prompt fits: then it is asked for whole, and the checker says why the answer falls short.
 */
export function needsParts<Stop>(
  model: ItemModel<Stop>,
  task: CodeMigrationTask,
  path: string,
  content: string,
  maxOutputTokens: number,
): boolean {
  const whole = codeMigrationPrompt(task, path, content, maxOutputTokens);
  if (!fitsOneCall(model, whole)) return true;
  return (
    model.countTokens(content) > whole.maxTokens && partBudget(model, task, path, maxOutputTokens) >= MIN_PART_TOKENS
  );
}

/** Most tokens of a part: its prompt, answer and a retry's feedback fit the context, and its rewrite fits one answer. */
function partBudget<Stop>(
  model: ItemModel<Stop>,
  task: CodeMigrationTask,
  path: string,
  maxOutputTokens: number,
): number {
  const frame = filePartFrame(task, path, maxOutputTokens);
  return Math.min(roomIn(model, frame), Math.floor(frame.maxTokens / OUTPUT_GROWTH));
}

/**
 * A part's prompt with its content left empty, numbered as the widest part and lines there can be: what a
 * context must hold besides a part. Routing estimates a large file's calls from it (libs/jobs item-split).
 */
export function filePartFrame(task: CodeMigrationTask, path: string, maxOutputTokens: number): Prompt {
  const widest = { index: 99_998, count: 99_999, firstLine: 99_999, lastLine: 99_999 };
  return partPrompt(task, path, '', widest, maxOutputTokens);
}

/**
 * A file too large for one call, migrated in parts: split at top-level declarations (the import header
 * stays whole in the first part) into parts whose prompt fits the model's context and whose rewrite
 * fits one answer; each part rewritten and checked on its own (it must parse where the original part
 * did), asked again with the validator's message up to MAX_VALIDATION_RETRIES times; then the parts
 * joined and the whole file validated before it counts. When only the joined file fails, the part
 * holding the first error is asked again with that message, within the same per-part retries.
 */
export async function runSplitMigration<Stop>(
  model: ItemModel<Stop>,
  tally: CallTally,
  task: CodeMigrationTask,
  path: string,
  content: string,
  maxOutputTokens: number,
  onRejected?: RejectionListener,
): Promise<Asked<MigratedFile, Stop> | ContextShort> {
  const partTokens = partBudget(model, task, path, maxOutputTokens);
  if (partTokens < MIN_PART_TOKENS) {
    return contextShort(
      `the model's context of ${model.contextTokens} tokens leaves ${Math.max(0, partTokens)} tokens for a part ` +
        `of the file after its prompt and answer (maxTokens); at least ${MIN_PART_TOKENS} are needed`,
    );
  }
  const texts = splitAtTopLevelDeclarations(path, content, partTokens, (s) => model.countTokens(s));
  let line = 1;
  const parts = texts.map((text, index) => {
    const firstLine = line;
    line += newlines(text);
    return {
      index,
      count: texts.length,
      firstLine,
      lastLine: Math.max(firstLine, line - (text.endsWith('\n') ? 1 : 0)),
      text,
    };
  });

  const migrated: string[] = [];
  const roundsLeft = parts.map(() => MAX_VALIDATION_RETRIES + 1);
  const ask = async (i: number, prompt: Prompt): Promise<Asked<string, Stop> | ContextShort | null> => {
    const part = parts[i];
    const name = `part ${i + 1} of ${parts.length}`;
    if (!fitsOneCall(model, prompt)) {
      return contextShort(
        `${name} of the file (lines ${part.firstLine}–${part.lastLine}, one top-level statement) is too large ` +
          `for the model's context of ${model.contextTokens} tokens`,
      );
    }
    const check = partCheck(model, path, part.text, prompt, migrationExpectations(task));
    const options = { maxOutputTokens, part: name, rounds: roundsLeft[i], onRejected };
    const asked = await askChecked(model, tally, prompt, undefined, check, options);
    roundsLeft[i] -= asked.rounds;
    if ('stop' in asked) return { stop: asked.stop };
    if (!asked.ok)
      return { ok: false, message: `${asked.message}, in ${name} (lines ${part.firstLine}–${part.lastLine})` };
    migrated[i] = asked.value;
    return null;
  };
  for (const part of parts) {
    const failed = await ask(part.index, partPrompt(task, path, part.text, part, maxOutputTokens));
    if (failed) return failed as Asked<MigratedFile, Stop> | ContextShort;
  }

  for (;;) {
    const joined = migrated.join('');
    const whole = validateMigratedFile(path, joined, {
      originalContent: content,
      maxTokensHit: false,
      expect: migrationExpectations(task),
    });
    if (whole.ok)
      return { ok: true, value: { content: whole.content, diff: unifiedDiff(path, content, whole.content) || null } };
    const culprit = partAt(migrated, lineOf(whole.message));
    onRejected?.({ part: 'the joined file', round: 0, message: whole.message });
    if (roundsLeft[culprit] <= 0)
      return { ok: false, message: `the file joined from its ${parts.length} parts: ${whole.message}` };
    const failure: ValidationFailure = {
      ok: false,
      reason: whole.reason,
      message: `after joining the parts, the whole file has: ${whole.message}`,
    };
    const retry = withFeedback(
      partPrompt(task, path, parts[culprit].text, parts[culprit], maxOutputTokens),
      validationFeedback(failure),
    );
    const failed = await ask(culprit, retry);
    if (failed) return failed as Asked<MigratedFile, Stop> | ContextShort;
  }
}

interface FilePart {
  index: number;
  count: number;
  firstLine: number;
  lastLine: number;
}

/** The single-file prompt with the part's content, told that it is one part of a larger file. */
function partPrompt(
  task: CodeMigrationTask,
  path: string,
  text: string,
  part: FilePart,
  maxOutputTokens: number,
): Prompt {
  const whole = codeMigrationPrompt(task, path, text, maxOutputTokens);
  if (part.count === 1) return whole; // one statement too large to split: asked for as the whole file
  const where = `This is part ${part.index + 1} of ${part.count} of the file (lines ${part.firstLine}–${part.lastLine}), whole top-level statements; the other parts are rewritten separately and joined with it in order. Answer with this part rewritten only.`;
  return {
    ...whole,
    prompt: `${whole.prompt}\n\n${where}`,
    expectedOutputTokens: Math.min(whole.maxTokens, whole.expectedOutputTokens),
  };
}

/** A part's answer must parse where the original part did; the retry carries the validator's message (its excerpt only if it fits). */
function partCheck<Stop>(
  model: ItemModel<Stop>,
  path: string,
  original: string,
  prompt: Prompt,
  expect: MigrationExpectations,
) {
  return (answer: { text: string; finishReason: 'stop' | 'length' }) => {
    const check: MigratedFileCheck = validateMigratedFile(path, answer.text, {
      originalContent: original,
      maxTokensHit: answer.finishReason === 'length',
      expect,
    });
    if (check.ok) return { ok: true as const, value: withSpacingOf(original, check.content) };
    const full = withFeedback(prompt, validationFeedback(check));
    const retry = fitsOneCall(model, full)
      ? full
      : withFeedback(prompt, validationFeedback({ ...check, excerpt: undefined }));
    return { ok: false as const, message: check.message, retry };
  };
}

/**
 * The answer with the original part's blank lines before it and whitespace after it: models add or drop
 * a blank line at either end of a fenced answer, and between joined parts that would show as noise in
 * the diff (or glue two declarations onto one line).
 */
function withSpacingOf(original: string, answer: string): string {
  const lead = /^(?:[ \t]*\r?\n)*/.exec(original)![0];
  const trail = original.slice(original.trimEnd().length);
  return lead + answer.replace(/^(?:[ \t]*\r?\n)+/, '').trimEnd() + trail;
}

function newlines(text: string): number {
  let n = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) n++;
  return n;
}

/** The first "line N:" a validator message names, or 1. */
function lineOf(message: string): number {
  const match = /^line (\d+):/.exec(message);
  return match ? Number(match[1]) : 1;
}

/** Which of the joined parts holds `line` (1-based); the last part when past the end. */
function partAt(parts: readonly string[], line: number): number {
  let first = 1;
  for (const [i, text] of parts.entries()) {
    const next = first + newlines(text);
    if (line < next || (line === next && !text.endsWith('\n'))) return i;
    first = next;
  }
  return parts.length - 1;
}
