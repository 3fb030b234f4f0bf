/**
 * A camera and a serial scanner may both be fitted (issue: "the first read
 * wins"): this reader merges them. A text read by one is passed on at once;
 * the same text from the other within `windowMs` is the same person's code
 * seen twice and is dropped.
 */
import type { CodeRead, CodeReader } from '../contracts.js';

export class FirstReadWins implements CodeReader {
  private readonly listeners = new Set<(read: CodeRead) => void>();
  private readonly unsubscribers: Array<() => void> = [];
  private last: { text: string; at: number } | null = null;

  constructor(
    private readonly readers: readonly CodeReader[],
    private readonly windowMs = 2000,
  ) {}

  onRead(listener: (read: CodeRead) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    for (const reader of this.readers) this.unsubscribers.push(reader.onRead((read) => this.forward(read)));
    await Promise.all(this.readers.map((reader) => reader.start()));
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribers.splice(0)) off();
    await Promise.all(this.readers.map((reader) => reader.stop()));
  }

  private forward(read: CodeRead): void {
    if (this.last && this.last.text === read.text && read.at - this.last.at < this.windowMs) return;
    this.last = { text: read.text, at: read.at };
    for (const listener of [...this.listeners]) listener(read);
  }
}
