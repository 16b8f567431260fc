import { chatAnswerSchema, chatBodyOf, itemSplit } from '#libs/jobs';
import { promptFor } from '#libs/jobs';
import type { TokenCalibration, TaskKind } from '#libs/routing';
import type { Capability, RoutableItem } from '#libs/routing';
import { estimateTokens } from '#libs/routing';
import type { WorkItem, BatchTask } from '#libs/domain';

/** The kind an item's output length is learned under (TokenCalibration). */
export function taskKind(task: BatchTask): TaskKind {
  if ('chat' in task) return 'chat';
  return 'type' in task ? task.type : 'migrate';
}

/**
 * What the routing policy is told about an item: its prompt's input tokens (as a local model's tokenizer
 * counted them at intake, else estimated) and the output its task is expected to produce, both corrected
 * by what tokenizers counted and models wrote for earlier items of its kind when `calibration` is given;
 * and how its runner splits it on a context too small for one call (`split`, see libs/routing callsOn), its
 * parts counted like its whole prompt: estimated, scaled to the input count above.
 * Intake, reroutes, the escalation watchdog and the local queue's view all estimate through here, so they
 * agree on an item's size; the worker records each completed item against the uncorrected estimate.
 */
export function routableItem(
  item: WorkItem,
  task: BatchTask,
  maxOutputTokens: number,
  calibration?: TokenCalibration,
): RoutableItem {
  return estimateItem(item, task, maxOutputTokens, calibration).routable;
}

/** An item's uncorrected estimate with its answer cap: what the local queue's view keeps and corrects per call. */
export function uncorrectedEstimate(
  item: WorkItem,
  task: BatchTask,
  maxOutputTokens: number,
): RoutableItem & { maxOutputTokens?: number } {
  const { routable, cap } = estimateItem(item, task, maxOutputTokens);
  return { ...routable, maxOutputTokens: cap };
}

function estimateItem(
  item: WorkItem,
  task: BatchTask,
  maxOutputTokens: number,
  calibration?: TokenCalibration,
): { routable: RoutableItem; cap: number | undefined } {
  const prompt = promptFor(item, task, maxOutputTokens);
  const cap = answerCap(prompt);
  const estimated = estimateTokens(prompt.system) + estimateTokens(prompt.prompt);
  const inputTokens = item.inputTokens ?? estimated;
  const estimate = {
    inputTokens,
    expectedOutputTokens: prompt.expectedOutputTokens,
    maxOutputTokens: cap,
  };
  const corrected = calibration
    ? calibration.apply(taskKind(task), estimate)
    : { inputTokens, expectedOutputTokens: prompt.expectedOutputTokens };
  const scale = corrected.inputTokens / estimated;
  // A chat item is one call wherever it runs: a conversation has no parts to split it into.
  const split =
    item.kind === 'chat'
      ? undefined
      : itemSplit(item, task, maxOutputTokens, {
          text: (text) => Math.ceil(estimateTokens(text) * scale),
          prompt: (p) => Math.ceil((estimateTokens(p.system) + estimateTokens(p.prompt)) * scale),
        });
  const routable = {
    sensitivity: item.sensitivity,
    deadline: item.deadline,
    ...corrected,
    split,
    needs: capabilityNeeds(task, item),
  };
  return { routable, cap };
}

/**
 * The longest answer the item's call can write (its max_tokens), where a learned ratio must stop: undefined
 * for an item split over several calls, whose output spans them.
 */
function answerCap(prompt: { expectedOutputTokens: number; maxTokens: number }): number | undefined {
  return prompt.expectedOutputTokens <= prompt.maxTokens ? prompt.maxTokens : undefined;
}

/** What a provider must be able to do to run an item of this task: a structured answer for classify and extract. */
export function capabilityNeeds(task: BatchTask, item?: Pick<WorkItem, 'kind' | 'input'>): Capability[] {
  if (item?.kind === 'chat') return chatAnswerSchema(chatBodyOf(item.input)) ? ['structured-output'] : [];
  return 'type' in task && task.type !== 'summarize' ? ['structured-output'] : [];
}
