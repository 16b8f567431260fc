/** A start-up configuration problem, naming the variable and the form it expects. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    expected: string,
    got?: string,
  ) {
    super(`${variable}: expected ${expected}${got === undefined ? '' : `, got "${got}"`}`);
    this.name = 'ConfigError';
  }
}
