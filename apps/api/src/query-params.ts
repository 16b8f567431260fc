import { BadRequestException } from '@nestjs/common';

/** A whole-number query parameter within bounds, or a 400 naming it. */
export function boundedInt(field: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      field,
      message: `${field} must be an integer from ${min} to ${max}`,
    });
  }
  return n;
}
