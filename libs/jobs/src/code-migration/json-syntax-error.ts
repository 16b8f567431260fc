/**
 * Where strict JSON (RFC 8259) first goes wrong. Node 20's JSON.parse names a position for some errors
 * and not for others ("Unexpected token '}', "{"a": }" is not valid JSON"), and a retry prompt needs a
 * line and column, so this small scanner finds it.
 */
export interface JsonSyntaxError {
  /** Offset into the text (UTF-16 code units). */
  offset: number;
  message: string;
}

/** The first syntax error in `text` as strict JSON, or null if it is valid. */
export function jsonSyntaxError(text: string): JsonSyntaxError | null {
  const scanner = new StrictJsonScanner(text);
  try {
    scanner.document();
    return null;
  } catch (error) {
    if (error instanceof ScanError) return { offset: error.offset, message: error.message };
    throw error;
  }
}

/** 1-based line and column (UTF-16 code units) of an offset, as editors and retry prompts name positions. */
export function lineAndColumnAt(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: offset - lineStart + 1 };
}

class ScanError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

class StrictJsonScanner {
  private at = 0;

  constructor(private readonly text: string) {}

  document(): void {
    this.value();
    this.whitespace();
    if (this.at < this.text.length) this.fail('unexpected text after the JSON value');
  }

  private value(): void {
    this.whitespace();
    const c = this.text[this.at];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const literal of ['true', 'false', 'null']) {
      if (this.text.startsWith(literal, this.at)) {
        this.at += literal.length;
        return;
      }
    }
    this.fail('value expected');
  }

  private object(): void {
    this.at++; // {
    this.whitespace();
    if (this.text[this.at] === '}') {
      this.at++;
      return;
    }
    for (;;) {
      this.whitespace();
      if (this.text[this.at] !== '"') this.fail('property name in double quotes expected');
      this.string();
      this.whitespace();
      this.expect(':', "':' expected after the property name");
      this.value();
      this.whitespace();
      if (this.text[this.at] === ',') {
        this.at++;
        continue;
      }
      this.expect('}', "',' or '}' expected");
      return;
    }
  }

  private array(): void {
    this.at++; // [
    this.whitespace();
    if (this.text[this.at] === ']') {
      this.at++;
      return;
    }
    for (;;) {
      this.value();
      this.whitespace();
      if (this.text[this.at] === ',') {
        this.at++;
        continue;
      }
      this.expect(']', "',' or ']' expected");
      return;
    }
  }

  private string(): void {
    this.at++; // opening quote
    for (;;) {
      if (this.at >= this.text.length) this.fail('unterminated string');
      const c = this.text.charCodeAt(this.at);
      if (c === 0x22) {
        this.at++;
        return;
      }
      if (c < 0x20) this.fail('control character in string');
      if (c === 0x5c) {
        const escape = this.text[this.at + 1];
        if (escape === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.at + 2, this.at + 6))) this.fail('invalid \\u escape');
          this.at += 6;
        } else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) {
          this.at += 2;
        } else {
          this.fail('invalid escape in string');
        }
        continue;
      }
      this.at++;
    }
  }

  private number(): void {
    const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(this.text.slice(this.at, this.at + 1024));
    if (!match) this.fail('invalid number');
    this.at += match![0].length;
  }

  private whitespace(): void {
    while (this.at < this.text.length && ' \t\n\r'.includes(this.text[this.at])) this.at++;
  }

  private expect(char: string, message: string): void {
    if (this.text[this.at] !== char) this.fail(message);
    this.at++;
  }

  private fail(message: string): never {
    throw new ScanError(this.at, this.at >= this.text.length ? 'unexpected end of input' : message);
  }
}
