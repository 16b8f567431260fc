/**
 * Data sensitivity, ordered from least to most sensitive. A provider's clearance is the highest
 * level it may receive; an item may only go to a provider whose clearance is >= its sensitivity.
 */
export const SENSITIVITY_LEVELS = ['public', 'internal', 'confidential', 'restricted'] as const;
export type Sensitivity = (typeof SENSITIVITY_LEVELS)[number];

export function isSensitivity(value: unknown): value is Sensitivity {
  return typeof value === 'string' && (SENSITIVITY_LEVELS as readonly string[]).includes(value);
}

export function sensitivityRank(level: Sensitivity): number {
  return SENSITIVITY_LEVELS.indexOf(level);
}

/** True when a provider cleared up to `clearance` may receive data of `sensitivity`. */
export function isCleared(clearance: Sensitivity, sensitivity: Sensitivity): boolean {
  return sensitivityRank(clearance) >= sensitivityRank(sensitivity);
}
