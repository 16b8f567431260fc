import { describe, expect, it } from '@jest/globals';
import { validateMigratedFile, type MigratedFileCheck } from './output-validator.js';

const complete = (originalContent: string) => ({ originalContent, maxTokensHit: false });

function content(check: MigratedFileCheck): string {
  if (!check.ok) throw new Error(`expected ok, got ${check.reason}: ${check.message}`);
  return check.content;
}

function rejection(check: MigratedFileCheck) {
  if (check.ok) throw new Error(`expected a rejection, got ok: ${JSON.stringify(check.content)}`);
  return check;
}

describe('validateMigratedFile', () => {
  describe('Markdown fences', () => {
    it('strips a fence with a language tag and the prose the model put before and after it', () => {
      const output =
        'Here is the migrated file:\n\n```typescript\nexport const a = 1;\n```\n\nLet me know if you need anything else.';
      expect(content(validateMigratedFile('src/a.ts', output, complete('export var a = 1;\n')))).toBe(
        'export const a = 1;\n',
      );
    });

    it('takes a bare answer as it is', () => {
      expect(content(validateMigratedFile('src/a.ts', 'export const a = 1;\n', complete('export var a = 1;\n')))).toBe(
        'export const a = 1;\n',
      );
    });

    it('accepts tilde fences and longer backtick fences', () => {
      expect(content(validateMigratedFile('a.py', '~~~python\nprint(1)\n~~~', complete('print 1\n')))).toBe(
        'print(1)\n',
      );
      expect(content(validateMigratedFile('a.py', '````\nprint(1)\n````', complete('print 1\n')))).toBe('print(1)\n');
    });

    it('keeps the code blocks of a Markdown file, wrapped or not', () => {
      const readme = '# Title\n\n```sh\nnpm ci\n```\n\nDone.\n';
      expect(content(validateMigratedFile('README.md', readme, complete(readme)))).toBe(readme);
      expect(content(validateMigratedFile('README.md', `\`\`\`markdown\n${readme}\`\`\`\n`, complete(readme)))).toBe(
        readme,
      );
    });

    it('rejects an answer whose fence is opened and never closed as truncated', () => {
      const check = rejection(
        validateMigratedFile('src/a.ts', '```ts\nexport const a = 1;\nexport const b', complete('x\n')),
      );
      expect(check.reason).toBe('truncated');
      expect(check.message).toMatch(/never closes/);
    });

    it('rejects an answer with several code blocks instead of guessing which one is the file', () => {
      const output = '```ts\nexport const a = 1;\n```\nAnd add this test:\n```ts\nit("works", () => {});\n```\n';
      expect(rejection(validateMigratedFile('src/a.ts', output, complete('x\n'))).reason).toBe('fences');
    });
  });

  describe('final newline', () => {
    it("ends the content with the original's line break, CRLF included", () => {
      expect(
        content(
          validateMigratedFile('a.ts', '```ts\r\nconst a = 1;\r\nconst b = 2;\r\n```', complete('var a = 1;\r\n')),
        ),
      ).toBe('const a = 1;\r\nconst b = 2;\r\n');
      expect(content(validateMigratedFile('a.ts', 'const a = 1;', complete('var a = 1;\n')))).toBe('const a = 1;\n');
    });

    it('leaves no final newline when the original had none', () => {
      expect(content(validateMigratedFile('a.ts', '```ts\nconst a = 1;\n```', complete('var a = 1;')))).toBe(
        'const a = 1;',
      );
      expect(content(validateMigratedFile('a.ts', 'const a = 1;\n', complete('var a = 1;')))).toBe('const a = 1;');
    });
  });

  describe('truncation and emptiness', () => {
    it('rejects any answer that hit the token limit, even one that parses', () => {
      const check = rejection(
        validateMigratedFile('a.ts', 'export const a = 1;\n', { originalContent: 'x\n', maxTokensHit: true }),
      );
      expect(check).toEqual({
        ok: false,
        reason: 'truncated',
        message: 'the answer was cut off at the output token limit',
      });
    });

    it('rejects an empty answer and an empty fence', () => {
      expect(rejection(validateMigratedFile('a.md', '  \n', complete('# Title\n'))).reason).toBe('empty');
      expect(rejection(validateMigratedFile('a.ts', '```ts\n```', complete('const a = 1;\n'))).reason).toBe('empty');
    });
  });

  describe('TypeScript and JavaScript', () => {
    it('reports the first syntax error as line:column and the parser message, with an excerpt', () => {
      const check = rejection(
        validateMigratedFile(
          'src/a.ts',
          'const a = 1;\nconst b = 2;\nconst c = ;\nconst d = 4;\nconst e = 5;\nconst f = 6;\n',
          complete('x\n'),
        ),
      );
      expect(check.reason).toBe('syntax');
      expect(check.message).toBe('line 3:11: Expression expected');
      expect(check.excerpt).toBe(
        [
          '  1 | const a = 1;',
          '  2 | const b = 2;',
          '> 3 | const c = ;',
          '  4 | const d = 4;',
          '  5 | const e = 5;',
        ].join('\n'),
      );
    });

    it('names the exact position and wording of a missing token', () => {
      expect(rejection(validateMigratedFile('a.ts', 'const list = [1, 2;\n', complete('x\n'))).message).toBe(
        "line 1:19: ',' expected",
      );
    });

    it('counts the errors it does not list', () => {
      const message = rejection(
        validateMigratedFile('a.ts', 'let = ;\nlet = ;\nlet = ;\nlet = ;\nlet = ;\n', complete('x\n')),
      ).message;
      expect(message.split('; line').length).toBe(3);
      expect(message).toMatch(/\(\+\d+ more\)$/);
    });

    it('parses JSX in .tsx, .jsx and .js files but not in .ts files', () => {
      const jsx = 'export const App = () => <div className="a">hi</div>;\n';
      expect(validateMigratedFile('App.tsx', jsx, complete('x\n')).ok).toBe(true);
      expect(validateMigratedFile('App.jsx', jsx, complete('x\n')).ok).toBe(true);
      expect(validateMigratedFile('App.js', jsx, complete('x\n')).ok).toBe(true);
      expect(validateMigratedFile('App.ts', jsx, complete('x\n')).ok).toBe(false);
    });

    it('rejects TypeScript-only syntax in a JavaScript file, .mjs and .cjs included', () => {
      for (const path of ['a.js', 'a.mjs', 'a.cjs']) {
        const check = rejection(validateMigratedFile(path, 'export const x: number = 1;\n', complete('x\n')));
        expect(check.message).toBe('line 1:17: Type annotations can only be used in TypeScript files');
      }
      expect(validateMigratedFile('a.mts', 'export const x: number = 1;\n', complete('x\n')).ok).toBe(true);
      expect(validateMigratedFile('a.cts', 'export const x: number = 1;\n', complete('x\n')).ok).toBe(true);
    });

    it('does not hold the answer to parsing when the original did not parse either', () => {
      const template = 'export const name = {{ name }};\n';
      expect(validateMigratedFile('a.ts', 'export const name = {{ name }} as const;\n', complete(template)).ok).toBe(
        true,
      );
    });
  });

  describe('JSON', () => {
    it('reports where strict JSON breaks even when JSON.parse does not say', () => {
      const check = rejection(validateMigratedFile('package.json', '{\n  "name": }\n', complete('{"name": "x"}\n')));
      expect(check.message).toBe('line 2:11: value expected');
    });

    it('rejects a trailing comma in strict JSON', () => {
      const check = rejection(validateMigratedFile('data.json', '{\n  "a": 1,\n}\n', complete('{"a": 0}\n')));
      expect(check.message).toBe('line 3:1: property name in double quotes expected');
    });

    it('allows comments and trailing commas when the original JSON had them (tsconfig.json)', () => {
      const original = '{\n  // strict everything\n  "compilerOptions": { "strict": true },\n}\n';
      const output = '{\n  // strict everything\n  "compilerOptions": { "strict": true, "module": "NodeNext", },\n}\n';
      expect(content(validateMigratedFile('tsconfig.json', output, complete(original)))).toBe(output);
      expect(
        rejection(validateMigratedFile('tsconfig.json', '{\n  // c\n  "a": 1,\n', complete(original))).message,
      ).toMatch(/^line 4:1: /);
    });

    it('reports a truncated JSON file', () => {
      expect(rejection(validateMigratedFile('a.json', '{"a": [1, 2', complete('{"a": []}'))).message).toBe(
        'line 1:12: unexpected end of input',
      );
    });
  });

  it('passes other kinds of files when they are not empty', () => {
    expect(content(validateMigratedFile('main.py', 'def f(:\n', complete('def f(): pass\n')))).toBe('def f(:\n');
    expect(content(validateMigratedFile('Makefile', 'all:\n\ttrue\n', complete('all:\n')))).toBe('all:\n\ttrue\n');
  });
});

describe('validateMigratedFile with a preset’s expectations', () => {
  const original = 'function add(a, b) {\n  return a + b;\n}\nmodule.exports = add;\n';

  it('js-to-ts: takes TypeScript in a file that keeps its .js path, which JavaScript rules would refuse', () => {
    const typed = 'export default function add(a: number, b: number): number {\n  return a + b;\n}\n';
    expect(rejection(validateMigratedFile('src/add.js', typed, complete(original))).reason).toBe('syntax');
    expect(
      content(validateMigratedFile('src/add.js', typed, { ...complete(original), expect: { typescript: true } })),
    ).toBe(typed);
  });

  it('js-to-ts: still refuses TypeScript that does not parse, and reads .jsx as TSX', () => {
    const broken = rejection(
      validateMigratedFile('src/add.js', 'function add(a: number, b: number: number {}\n', {
        ...complete(original),
        expect: { typescript: true },
      }),
    );
    expect(broken.reason).toBe('syntax');
    const view = 'export const View = (props: { name: string }) => <p>{props.name}</p>;\n';
    expect(
      content(
        validateMigratedFile('src/view.jsx', view, {
          ...complete('export const View = (props) => <p>{props.name}</p>;\n'),
          expect: { typescript: true },
        }),
      ),
    ).toBe(view);
  });

  it('rename-api: refuses an answer that still uses the old name as an identifier, saying where', () => {
    const source = "import { fetchUser } from './api.js';\nconst user = await fetchUser(1);\nclient.fetchUser();\n";
    const half = "import { loadUser } from './api.js';\nconst user = await loadUser(1);\nclient.fetchUser();\n";
    const check = rejection(
      validateMigratedFile('src/a.ts', half, { ...complete(source), expect: { absentIdentifier: 'fetchUser' } }),
    );
    expect(check.reason).toBe('leftover');
    expect(check.message).toBe('line 3:8: `fetchUser` is still used as an identifier; rename every use');
    expect(check.excerpt).toContain('> 3 | client.fetchUser();');
  });

  it('rename-api: counts every leftover, and lets the old name stand in strings, comments and template text', () => {
    const source = 'fetchUser(); fetchUser(); x.fetchUser;\n';
    expect(
      rejection(
        validateMigratedFile('a.js', source, { ...complete(source), expect: { absentIdentifier: 'fetchUser' } }),
      ).message,
    ).toBe('line 1:1: `fetchUser` is still used as an identifier (+2 more places); rename every use');
    const renamed = "// was fetchUser\nlog('fetchUser renamed');\nconst s = `${loadUser()} fetchUser`;\nloadUser();\n";
    expect(
      content(
        validateMigratedFile('a.js', renamed, { ...complete(source), expect: { absentIdentifier: 'fetchUser' } }),
      ),
    ).toBe(renamed);
  });

  it('rename-api: does not look into files the TypeScript parser does not read', () => {
    expect(
      content(
        validateMigratedFile('a.json', '{"fetchUser": 1}\n', {
          ...complete('{"fetchUser": 1}\n'),
          expect: { absentIdentifier: 'fetchUser' },
        }),
      ),
    ).toBe('{"fetchUser": 1}\n');
  });
});
