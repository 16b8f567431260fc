import { sensitivityRank, type Sensitivity } from '#libs/routing/src/sensitivity.js';
import type { PiiDetection } from './pii-detector.js';
import type { PiiCategory } from './pii-rules.js';

export interface EffectiveSensitivity {
  /** max(declared, detection floor) in SENSITIVITY_LEVELS order: what routing must treat the item as. */
  sensitivity: Sensitivity;
  /** True when the detection lifted the item above what its submitter declared. */
  raised: boolean;
  /** The categories detected, for the audit log line that explains the level. */
  categories: PiiCategory[];
}

/**
 * Detected PII only ever raises an item's sensitivity: a public item holding a card number is
 * routed as confidential, while a restricted item stays restricted whatever was found.
 */
export function effectiveSensitivity(declared: Sensitivity, detection: PiiDetection): EffectiveSensitivity {
  const categories = [...detection.categories];
  const { floor } = detection;
  if (floor !== null && sensitivityRank(floor) > sensitivityRank(declared)) {
    return { sensitivity: floor, raised: true, categories };
  }
  return { sensitivity: declared, raised: false, categories };
}
