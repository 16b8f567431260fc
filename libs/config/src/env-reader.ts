import { readFileSync } from 'node:fs';
import { ConfigError } from '#libs/domain';

type Env = Record<string, string | undefined>;

/** Typed accessors over an env map; every failure names the variable. */
export class EnvReader {
  constructor(private readonly env: Env) {}

  string(name: string, fallback: string): string {
    const v = this.raw(name);
    return v === undefined ? fallback : v;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || n < min || n > max) {
      throw new ConfigError(name, `an integer from ${min} to ${max}`, v);
    }
    return n;
  }

  number(name: string, fallback: number, min = 0, max = Number.MAX_VALUE): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new ConfigError(name, `a number from ${min} to ${max}`, v);
    return n;
  }

  /** A duration: milliseconds as a plain integer, or an integer with a unit (`500ms`, `30s`, `10m`, `12h`, `30d`). */
  durationMs(name: string, fallback: number, min = 0): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const m = /^(\d+)(ms|s|m|h|d)?$/.exec(v.trim());
    const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
    const unit = units[m?.[2] ?? 'ms'];
    const n = m ? Number(m[1]) * unit : NaN;
    if (!Number.isSafeInteger(n) || n < min)
      throw new ConfigError(name, `a duration (30s, 10m, 12h, 30d) of at least ${min} ms`, v);
    return n;
  }

  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!(values as readonly string[]).includes(v)) throw new ConfigError(name, `one of ${values.join(', ')}`, v);
    return v as T;
  }

  /** `true` or `false` (any case); anything else names the variable. */
  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (/^true$/i.test(v)) return true;
    if (/^false$/i.test(v)) return false;
    throw new ConfigError(name, 'true or false', v);
  }

  url(name: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    try {
      new URL(v);
    } catch {
      throw new ConfigError(name, 'an absolute URL', v);
    }
    return v;
  }

  /** A secret from NAME or from the file named by NAME_FILE; the value is never echoed in errors. */
  secret(name: string): string | undefined {
    const direct = this.raw(name);
    if (direct !== undefined) return direct;
    const file = this.raw(`${name}_FILE`);
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      throw new ConfigError(`${name}_FILE`, 'a readable file holding the secret', file);
    }
  }

  /** The variable a secret was read from: NAME when it is set, else NAME_FILE (what an error about its value names). */
  secretSource(name: string): string {
    return this.raw(name) !== undefined ? name : `${name}_FILE`;
  }

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }
}
