import { describe, expect, it } from '@jest/globals';
import { SseParser } from './sse-parser.js';

describe('SseParser', () => {
  it('dispatches events on a blank line, joining data lines, keeping the last id', () => {
    const p = new SseParser();
    expect(p.push('id: 1-0\nevent: item\ndata: {"a":\ndata: 1}\n\n: keep-alive\n\ndata: x\n\n')).toEqual([
      { id: '1-0', event: 'item', data: '{"a":\n1}' },
      { id: '1-0', event: 'message', data: 'x' },
    ]);
  });

  it('reassembles lines split across chunks, CRLF split included', () => {
    const p = new SseParser();
    expect(p.push('data: he')).toEqual([]);
    expect(p.push('llo\r')).toEqual([]);
    expect(p.push('\n\r\n')).toEqual([{ id: undefined, event: 'message', data: 'hello' }]);
  });

  it('does not dispatch an event without data', () => {
    expect(new SseParser().push('event: ping\n\n')).toEqual([]);
  });
});
