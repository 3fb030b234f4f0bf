/**
 * Rows that arrive one by one written to the database together: what is
 * added during one turn of the event loop (up to `maxRows`) goes in one
 * statement and one commit. A fleet's thousand decisions a second are a
 * thousand commits to PostgreSQL one by one, each waiting for its WAL flush;
 * batched they are a few dozen.
 *
 * Each row has a key; `write` resolves with the keys it actually stored, so
 * every caller still learns whether its row was new. A key twice in one
 * batch is new at most once, as it would be written one at a time. For
 * inserts the first row of a key is the one written (`keep: 'first'`); for
 * upserts of whole rows, the last (`keep: 'last'`). One row the database
 * refuses must not take the others of its batch with it: when a batch fails
 * with an error `oneByOneAfter` accepts (a refused row, not a lost
 * connection), its rows are written again one at a time, and only the bad
 * one fails.
 */
export class InsertBatcher<Row> {
  private waiting: Array<{ row: Row; key: string; resolve: (stored: boolean) => void; reject: (error: Error) => void }> = [];
  private scheduled = false;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly write: (rows: Row[]) => Promise<Set<string>>,
    private readonly keyOf: (row: Row) => string,
    private readonly options: { maxRows?: number; keep?: 'first' | 'last'; oneByOneAfter?: (error: Error) => boolean } = {},
  ) {}

  private get maxRows(): number {
    return this.options.maxRows ?? 500;
  }

  /** Resolves true when the row was stored, false when a row with its key was there already. */
  add(row: Row): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ row, key: this.keyOf(row), resolve, reject });
      if (this.waiting.length >= this.maxRows) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Resolves once every row added so far is written (or has failed). */
  async idle(): Promise<void> {
    if (this.waiting.length > 0) this.flush();
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.waiting.splice(0, this.maxRows);
    if (batch.length === 0) return;
    if (this.waiting.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    // One row per key: for inserts the first (any later one is a duplicate by then), for upserts the newest.
    const chosen = new Map<string, Row>();
    const last = this.options.keep === 'last';
    for (const item of batch) if (last || !chosen.has(item.key)) chosen.set(item.key, item.row);
    this.inFlight++;
    this.writeBatch([...chosen.values()])
      .then((outcome) => {
        const answered = new Set<string>();
        for (const item of batch) {
          const failure = outcome.failed.get(item.key);
          if (failure) item.reject(failure);
          else item.resolve(outcome.stored.has(item.key) && !answered.has(item.key));
          answered.add(item.key);
        }
      })
      .finally(() => {
        this.inFlight--;
        if (this.inFlight === 0 && this.waiting.length === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
  }

  /** The batch in one write; if the database refuses it, the rows one by one (oneByOneAfter). Never rejects: failures are per key. */
  private async writeBatch(rows: Row[]): Promise<{ stored: Set<string>; failed: Map<string, Error> }> {
    const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
    try {
      return { stored: await this.write(rows), failed: new Map() };
    } catch (error) {
      const failure = asError(error);
      const failed = new Map<string, Error>();
      if (rows.length === 1 || !this.options.oneByOneAfter?.(failure)) {
        for (const row of rows) failed.set(this.keyOf(row), failure);
        return { stored: new Set(), failed };
      }
      const stored = new Set<string>();
      for (const row of rows) {
        try {
          for (const key of await this.write([row])) stored.add(key);
        } catch (alone) {
          failed.set(this.keyOf(row), asError(alone));
        }
      }
      return { stored, failed };
    }
  }
}
