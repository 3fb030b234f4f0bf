/**
 * `npm start -- --fleet N`: N lanes' MQTT links (FleetLane: the agent's link
 * code, each lane with its own journal file and connection, no hardware)
 * against the embedded broker, and the real centre publishing the colour
 * changes the platform sends to its API. Prints, for each change, how long
 * from the platform's request until every lane had verified, stored and
 * applied it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { laneTopic } from '../protocol/topics.js';
import { createSignerCertificate } from '../protocol/trust/signer-certificate.js';
import { TrustStore } from '../protocol/trust/trust-store.js';
import { VerifiedSignatures } from '../protocol/signed-message.js';
import { startEmbeddedBroker } from './broker.js';
import { startDemoCentre } from './demo-centre.js';
import { FleetLane, startFleet } from './fleet.js';

export interface FleetRunOptions {
  lanes: number;
  changes: number;
  /** Lanes of this process share signature checks, as lanes of one controller would. */
  sharedVerification: boolean;
  out: (line: string) => void;
}

const SITE = 'demo-fleet';
const BASE_TOPIC = 'hc/v1';

export async function runFleet(options: FleetRunOptions): Promise<number> {
  const { lanes: count, out } = options;
  const broker = await startEmbeddedBroker();
  const dir = mkdtempSync(join(tmpdir(), 'gate-fleet-'));
  const logger = pino({ level: 'error' }, pino.destination({ fd: 2, sync: true }));
  const key = await createSignerCertificate({ subject: 'CN=Health-code centre (demo fleet), O=Reference platform, C=CN' });
  // The embedded aedes speaks MQTT 3.1.1.
  const demo = await startDemoCentre({ site: SITE, key, dir: join(dir, 'centre'), broker: { url: broker.url, protocolVersion: 4 }, baseTopic: BASE_TOPIC, heartbeatSeconds: 10, logger });
  const keys = new TrustStore();
  keys.add(key.certificate, 'centre');
  // What the lanes refuse, they report: counted to show none was.
  const watcher = await mqtt.connectAsync(broker.url, { clientId: `fleet-watch-${process.pid}`, protocolVersion: 4 });
  let refused = 0;
  watcher.on('message', () => refused++);
  await watcher.subscribeAsync(laneTopic(BASE_TOPIC, SITE, '+', 'security'), { qos: 1 });
  const verifiedSignatures = options.sharedVerification ? new VerifiedSignatures() : undefined;
  const applied = new Map<number, number[]>();
  let lanes: FleetLane[] = [];
  try {
    out(`Fleet of ${count} lanes (site ${SITE}) on the embedded broker ${broker.url}; centre API ${demo.centre.url}; journals in ${dir}`);
    const step = Math.max(1, Math.round(count / 10));
    lanes = await startFleet(
      count,
      (i) => {
        const lane = new FleetLane({
          url: broker.url,
          site: SITE,
          lane: `lane-${i + 1}`,
          dir,
          centreKeys: keys,
          logger,
          config: { mqtt: { protocolVersion: 4 } },
          ...(verifiedSignatures ? { verifiedSignatures } : {}),
        });
        lane.link.on('colour-applied', ({ seq }) => {
          let list = applied.get(seq);
          if (!list) applied.set(seq, (list = []));
          list.push(performance.now());
        });
        return lane;
      },
      { concurrency: 50, onProgress: (n) => n % step === 0 && out(`  ${n} of ${count} lanes connected`) },
    );

    // Every lane starts from the retained snapshot the centre published, as a new gate does.
    const synced = await until(() => lanes.every((l) => l.sync.lastSeq !== null), 30_000);
    out(synced ? `All ${count} lanes synced from the snapshot.\n` : 'Not every lane got the snapshot within 30 s.\n');

    let complete = 0;
    for (let i = 0; i < options.changes; i++) {
      const colour = i % 2 === 0 ? 'red' : 'green';
      const before = performance.now();
      const { seq } = await demo.platform.pushColours(SITE, [{ sub: `fleet-person-${i + 1}`, colour }]);
      const all = await until(() => (applied.get(seq)?.length ?? 0) >= count, 30_000);
      const times = (applied.get(seq) ?? []).map((t) => t - before).sort((a, b) => a - b);
      const at = (p: number): string => `${times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)]?.toFixed(1) ?? '-'} ms`;
      out(`change ${i + 1} (${colour}): ${times.length} of ${count} lanes applied it; p50 ${at(50)}, p99 ${at(99)}, last ${at(100)}`);
      if (all) complete++;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    out(`\n${complete} of ${options.changes} changes reached every lane; ${refused} security events from the lanes.`);
    return complete === options.changes && refused === 0 ? 0 : 1;
  } finally {
    await Promise.all(lanes.map((l) => l.stop()));
    await watcher.endAsync();
    await demo.stop();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}
