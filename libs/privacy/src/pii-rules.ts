import { ConfigError } from '#libs/domain';
import { SENSITIVITY_LEVELS, isSensitivity, type Sensitivity } from '#libs/domain';

/** What the detector looks for. `national-id` covers US SSN, UK NINO, Spanish DNI/NIE, French NIR and Dutch BSN. */
export const PII_CATEGORIES = ['email', 'phone', 'iban', 'card', 'national-id'] as const;
export type PiiCategory = (typeof PII_CATEGORIES)[number];

export function isPiiCategory(value: unknown): value is PiiCategory {
  return typeof value === 'string' && (PII_CATEGORIES as readonly string[]).includes(value);
}

/** Per category: the sensitivity floor an item holding it is raised to, or `false` to not look for it. */
export type PiiRules = Readonly<Record<PiiCategory, Sensitivity | false>>;

export const DEFAULT_PII_RULES: PiiRules = {
  email: 'internal',
  phone: 'internal',
  iban: 'confidential',
  card: 'confidential',
  'national-id': 'restricted',
};

const VARIABLE = 'PII_RULES';

/**
 * PII_RULES, a JSON object of category → sensitivity level, `false` (off) or `true` (on, default
 * floor), laid over DEFAULT_PII_RULES: `{"card": "restricted", "email": false}`. Unset or empty
 * means the defaults. Errors name the key: `PII_RULES.card: expected …`.
 */
export function parsePiiRules(json: string | undefined): PiiRules {
  if (json === undefined || json.trim() === '') return DEFAULT_PII_RULES;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new ConfigError(VARIABLE, 'a JSON object of category → sensitivity level or false');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(VARIABLE, 'a JSON object of category → sensitivity level or false');
  }
  const rules: Record<PiiCategory, Sensitivity | false> = { ...DEFAULT_PII_RULES };
  for (const [key, value] of Object.entries(parsed)) {
    const where = `${VARIABLE}.${key}`;
    if (!isPiiCategory(key)) throw new ConfigError(where, `a category, one of ${PII_CATEGORIES.join(', ')}`);
    if (value === false) rules[key] = false;
    else if (value === true) rules[key] = DEFAULT_PII_RULES[key];
    else if (isSensitivity(value)) rules[key] = value;
    else
      throw new ConfigError(
        where,
        `one of ${SENSITIVITY_LEVELS.join(', ')}, true or false`,
        typeof value === 'string' ? value : JSON.stringify(value),
      );
  }
  return rules;
}
