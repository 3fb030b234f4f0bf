/**
 * A server-sent event stream read from a fetch response, event by event,
 * as a browser's EventSource would (comments and retry lines skipped).
 * Bounded by the test's own timeout.
 */

export interface StreamEvent {
  event: string;
  data: unknown;
}

export interface EventReader {
  /** The next event, or null when the server ended the stream. */
  next(): Promise<StreamEvent | null>;
  /** The next event of this name (others skipped); throws if the stream ends first. */
  nextOf(name: string): Promise<StreamEvent>;
  /** Reads to the end: resolves once the server has ended the stream. */
  ended(): Promise<void>;
}

export function eventReader(response: Response): EventReader {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  const next = async (): Promise<StreamEvent | null> => {
    for (;;) {
      const end = buffered.indexOf('\n\n');
      if (end >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length) return { event, data: JSON.parse(data.join('\n')) };
        continue;
      }
      const { value, done } = await reader.read();
      if (done) return null;
      buffered += decoder.decode(value, { stream: true });
    }
  };
  return {
    next,
    async nextOf(name) {
      for (;;) {
        const event = await next();
        if (!event) throw new Error(`the stream ended before a '${name}' event`);
        if (event.event === name) return event;
      }
    },
    async ended() {
      while ((await next()) !== null);
    },
  };
}
