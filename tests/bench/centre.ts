/**
 * `npm run bench -- centre`: the real centre (centre/service.ts) on a real
 * Mosquitto, in two parts. Ingest (centre-ingest.ts): changes per second
 * from the platform's request to stored and published, SQLite and
 * PostgreSQL in one run. End to end (centre-propagation.ts): from the
 * platform's request to applied at the gates, for 1,000 and 5,000 lanes.
 */
import { availableParallelism, loadavg } from 'node:os';
import { mosquittoAvailable, startMosquitto } from '../support/mosquitto.js';
import type { CentreBenchStore } from './centre-setup.js';
import { benchCentreIngest } from './centre-ingest.js';
import { benchCentrePropagation } from './centre-propagation.js';

export interface CentreBenchOptions {
  stores: CentreBenchStore[];
  /** Both parts by default. */
  parts: Array<'ingest' | 'end-to-end'>;
  ingest: { rounds: number; batches: number; batchSize: number; concurrency: number; subjects: number };
  endToEnd: { sizes: number[]; rounds: number; probes: number; children: number };
  progress: (message: string) => void;
}

export async function benchCentre(options: CentreBenchOptions): Promise<Record<string, unknown>> {
  if (!mosquittoAvailable()) throw new Error('mosquitto not installed: apt-get install -y mosquitto');
  const onBroker = async <T>(run: (url: string) => Promise<T>): Promise<T> => {
    // Each part on a broker of its own: nothing retained or queued by the other.
    const broker = await startMosquitto({ plain: true, extra: 'max_queued_messages 100000' });
    try {
      return await run(broker.url);
    } finally {
      await broker.stop();
    }
  };
  // A shared machine's other work shows in every figure: its load is printed with them.
  const loadAtStart = loadavg().map((l) => Number(l.toFixed(1)));
  const ingest = options.parts.includes('ingest')
    ? await onBroker((brokerUrl) => benchCentreIngest({ brokerUrl, stores: options.stores, ...options.ingest, progress: options.progress }))
    : null;
  const ingestLoad = loadavg().map((l) => Number(l.toFixed(1)));
  const endToEnd = options.parts.includes('end-to-end')
    ? await onBroker((brokerUrl) => benchCentrePropagation({ brokerUrl, store: options.stores[0]!, ...options.endToEnd, progress: options.progress }))
    : null;
  return {
    benchmark: 'centre',
    broker: 'mosquitto (Debian), plain listener on loopback',
    cores: availableParallelism(),
    loadAverage: { atStart: loadAtStart, afterIngest: ingestLoad, atEnd: loadavg().map((l) => Number(l.toFixed(1))) },
    ingest,
    endToEnd,
  };
}
