import { describe, expect, it } from '@jest/globals';
import { unwrapCodeFence } from './code-fence.js';

describe('unwrapCodeFence', () => {
  it('takes an answer without fences as it is', () => {
    expect(unwrapCodeFence('const a = 1;\n')).toEqual({ kind: 'bare', text: 'const a = 1;\n' });
  });

  it('returns the lines inside the wrapper with their line breaks, dropping the prose around it', () => {
    expect(unwrapCodeFence('Sure! Here it is:\n```ts\r\na\r\nb\r\n```\r\nHope this helps.')).toEqual({
      kind: 'unwrapped',
      text: 'a\r\nb\r\n',
    });
  });

  it('leaves the fences that the original file has', () => {
    const markdown = 'Intro\n```js\nx()\n```\n';
    expect(unwrapCodeFence(markdown, markdown)).toEqual({ kind: 'bare', text: markdown });
    expect(unwrapCodeFence(`\`\`\`\`md\n${markdown}\`\`\`\`\n`, markdown)).toEqual({
      kind: 'unwrapped',
      text: markdown,
    });
  });

  it('calls an opened fence with no close unclosed, and a closing fence that does not match too', () => {
    expect(unwrapCodeFence('```ts\nconst a')).toEqual({ kind: 'unclosed' });
    expect(unwrapCodeFence('````ts\nconst a\n```\n')).toEqual({ kind: 'unclosed' });
    expect(unwrapCodeFence('```ts\nconst a\n~~~\n')).toEqual({ kind: 'unclosed' });
  });

  it('counts extra fences when there are more blocks than one wrapper', () => {
    expect(unwrapCodeFence('```\na\n```\n```\nb\n```')).toEqual({ kind: 'several', fences: 4 });
  });

  it('does not take inline triple backticks or a fence indented four spaces for a fence', () => {
    const text = 'const s = "```";\n    ```\nx\n';
    expect(unwrapCodeFence(text)).toEqual({ kind: 'bare', text });
  });
});
