/** One Server-Sent Event as the spec's parser dispatches it. */
export interface ServerSentEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * The text/event-stream parser the WHATWG spec describes, fed with chunks as they arrive (a line may be
 * split across chunks; CRLF, LF or CR end lines). Comments (`:` lines) and unknown fields are ignored; an
 * event without data is not dispatched.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id?: string;

  push(chunk: string): ServerSentEvent[] {
    this.buffer += chunk;
    const out: ServerSentEvent[] = [];
    for (;;) {
      const end = /\r\n|\r|\n/.exec(this.buffer);
      // A lone CR at the end of a chunk may be the first half of a CRLF: wait for the next chunk.
      if (!end || (end[0] === '\r' && end.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, end.index);
      this.buffer = this.buffer.slice(end.index + end[0].length);
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  private line(line: string): ServerSentEvent | null {
    if (line === '') {
      const event =
        this.data.length > 0 ? { id: this.id, event: this.event || 'message', data: this.data.join('\n') } : null;
      this.data = [];
      this.event = '';
      return event;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return null;
  }
}
