import { esc } from '../html-escape.js';

export { esc };

/** A number rounded for reading: at most `digits` decimals, trailing zeros dropped. */
export function round(value: number, digits = 2): string {
  const f = 10 ** digits;
  return String(Math.round(value * f) / f);
}

/** 95_000 → "1m 35s"; under a second "0s"; hours and days for long spans. */
export function duration(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const shown = parts.filter(([n]) => n > 0).slice(0, 2);
  return shown.length === 0 ? '0s' : shown.map(([n, unit]) => `${n}${unit}`).join(' ');
}

/** US dollars with enough decimals for a cloud call's fraction of a cent. */
export function usd(value: number): string {
  return value === 0 ? '$0' : value < 0.01 ? `$${value.toFixed(6)}` : `$${value.toFixed(2)}`;
}
