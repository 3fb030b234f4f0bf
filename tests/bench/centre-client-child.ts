/**
 * Child process of the centre ingest benchmark: the health-code platform's
 * side, in a process of its own as it is in production, POSTing batches of
 * changes over HTTP with its bearer token, `concurrency` requests in flight.
 * The bodies are made before the clock starts, so the child's own JSON work
 * is not counted against the centre. Driven over IPC by centre-ingest.ts.
 */
import { COLOURS } from '../../protocol/domain.js';

export interface ClientCommand {
  url: string;
  token: string;
  site: string;
  /** Prefix of the batch ids: unique per round. */
  tag: string;
  batches: number;
  batchSize: number;
  concurrency: number;
  /** Subjects are drawn from this many (later rounds update earlier rounds' statuses). */
  subjects: number;
}

export interface BatchTiming {
  seq: number;
  sentAt: number;
  answeredAt: number;
}

export type ClientReply = { ok: true; startedAt: number; batches: BatchTiming[] } | { ok: false; error: string };

const clock = (): number => performance.timeOrigin + performance.now();

function bodies(command: ClientCommand): string[] {
  const now = Date.now();
  const out: string[] = [];
  for (let b = 0; b < command.batches; b++) {
    const changes = Array.from({ length: command.batchSize }, (_, i) => {
      const n = (b * command.batchSize + i) % command.subjects;
      return { subject: `bench-subject-${n}`, colour: COLOURS[(b + i) % COLOURS.length]!, effectiveAt: now - 1000 + b, reason: 'bench' };
    });
    out.push(JSON.stringify({ batchId: `${command.tag}-${b}`, changes }));
  }
  return out;
}

async function run(command: ClientCommand): Promise<ClientReply> {
  const prepared = bodies(command);
  const timings: BatchTiming[] = [];
  const endpoint = `${command.url}/v1/sites/${command.site}/changes`;
  let next = 0;
  const startedAt = clock();
  const worker = async (): Promise<void> => {
    while (next < prepared.length) {
      const body = prepared[next++]!;
      const sentAt = clock();
      const response = await fetch(endpoint, { method: 'POST', headers: { authorization: `Bearer ${command.token}`, 'content-type': 'application/json' }, body });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`POST changes: ${response.status} ${text.slice(0, 300)}`);
      timings.push({ seq: (JSON.parse(text) as { seq: number }).seq, sentAt, answeredAt: clock() });
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, worker));
  return { ok: true, startedAt, batches: timings };
}

process.on('message', (command: ClientCommand) => {
  run(command).then(
    (reply) => process.send!(reply),
    (error: unknown) => process.send!({ ok: false, error: (error as Error).stack ?? String(error) } satisfies ClientReply),
  );
});
process.on('disconnect', () => process.exit(0));
