import { ConfigError } from '#libs/domain';

/** A provider's or engine's name: it names its queue (`inference-…<name>`), metrics and results. */
export const ROUTE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** A variable holding a JSON array (CLOUD_PROVIDERS, ENGINE_POOLS), parsed; an error names the variable. */
export function jsonArray(variable: string, raw: string, expected: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(variable, expected);
  }
  if (!Array.isArray(parsed)) throw new ConfigError(variable, expected);
  return parsed;
}

/**
 * The typed fields of one entry of such an array (`where`: e.g. `ENGINE_POOLS[0]`), each checked as it is read,
 * its error naming the field.
 */
export class JsonEntry {
  constructor(
    readonly where: string,
    readonly fields: Record<string, unknown>,
  ) {}

  str(key: string, fallback?: string): string {
    const v = this.fields[key] ?? fallback;
    if (typeof v !== 'string' || v === '') throw new ConfigError(`${this.where}.${key}`, 'a non-empty string');
    return v;
  }

  num<F extends number | null>(key: string, fallback: F, min: number, max?: number): number | F {
    const v = this.fields[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (max !== undefined && v > max))
      throw new ConfigError(
        `${this.where}.${key}`,
        max === undefined ? `a number ≥ ${min}` : `a number from ${min} to ${max}`,
        String(v),
      );
    return v;
  }

  int(key: string, fallback: number, min: number, max?: number): number {
    const v = this.num(key, fallback, min, max);
    if (!Number.isInteger(v)) throw new ConfigError(`${this.where}.${key}`, 'an integer', String(v));
    return v;
  }

  /** The entry's name, checked against ROUTE_NAME and against `taken` (then added to it). */
  name(taken: Set<string>, clash: string): string {
    const name = this.str('name');
    if (!ROUTE_NAME.test(name))
      throw new ConfigError(`${this.where}.name`, 'letters, digits, "-" and "_" (up to 63)', name);
    if (taken.has(name)) throw new ConfigError(`${this.where}.name`, clash, name);
    taken.add(name);
    return name;
  }
}
