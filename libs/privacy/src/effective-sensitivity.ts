import { sensitivityRank, type Sensitivity } from '#libs/domain';
import type { PiiDetection } from './pii-detector.js';
import { PII_CATEGORIES, type PiiCategory } from './pii-rules.js';

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
 * routed as confidential, while a restricted item stays restricted whatever was found. Several
 * detections (the item's own fields, and the task's that go into every item's prompt) count together.
 */
export function effectiveSensitivity(
  declared: Sensitivity,
  detection: PiiDetection | readonly PiiDetection[],
): EffectiveSensitivity {
  const detections: readonly PiiDetection[] = 'floor' in detection ? [detection] : detection;
  const categories = PII_CATEGORIES.filter((c) => detections.some((d) => d.categories.includes(c)));
  let floor: Sensitivity | null = null;
  for (const d of detections) {
    if (d.floor !== null && (floor === null || sensitivityRank(d.floor) > sensitivityRank(floor))) floor = d.floor;
  }
  if (floor !== null && sensitivityRank(floor) > sensitivityRank(declared)) {
    return { sensitivity: floor, raised: true, categories };
  }
  return { sensitivity: declared, raised: false, categories };
}
