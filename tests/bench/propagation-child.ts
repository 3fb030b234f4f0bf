/**
 * Child process of the propagation benchmark: holds a share of the lanes,
 * either bare subscribers (one plain MQTT client per lane, nothing done with
 * the message) or fleet lanes (the agent's link: verify, store, apply), and
 * records when each lane got each colour change. Driven over IPC by
 * propagation.ts; clocks are performance.timeOrigin + now(), comparable
 * across processes on one machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { VerifiedSignatures } from '../../protocol/signed-message.js';
import { siteTopic } from '../../protocol/topics.js';
import { FleetLane, startFleet } from '../../simulator/fleet.js';

export type ChildCommand =
  | { cmd: 'bare'; url: string; site: string; first: number; count: number }
  | { cmd: 'agent'; url: string; site: string; first: number; count: number; centrePem: string; sharedVerification: boolean }
  | { cmd: 'wait'; seq: number; timeoutMs: number }
  | { cmd: 'report' }
  | { cmd: 'close' };

export type ChildReply =
  | { ok: true; reply: 'ready' | 'closed' }
  | { ok: true; reply: 'waited'; complete: boolean; missing: number }
  | { ok: true; reply: 'report'; times: Record<number, number[]>; processing: number[] }
  | { ok: false; error: string };

const clock = (): number => performance.timeOrigin + performance.now();
const logger = pino({ level: 'error' });
/** seq → the time each lane had it. */
const times = new Map<number, number[]>();
/** Per lane and change: arrival to applied, inside the lane (agent side only). */
const processing: number[] = [];
let bare: MqttClient[] = [];
let fleet: FleetLane[] = [];
let dir: string | null = null;

function record(seq: number): void {
  let list = times.get(seq);
  if (!list) times.set(seq, (list = []));
  list.push(clock());
}

async function startBare(url: string, site: string, first: number, count: number): Promise<void> {
  const topic = siteTopic('hc/v1', site, 'colour/change');
  let next = 0;
  const connectOne = async (): Promise<void> => {
    while (next < count) {
      const index = first + next++;
      const client = await mqtt.connectAsync(url, { clientId: `bare-${index}`, protocolVersion: 5, clean: true, reconnectPeriod: 0 });
      client.on('message', (_topic, payload) => {
        // The seq is all a bare subscriber looks at: read without verifying anything.
        const seq = JSON.parse(Buffer.from(JSON.parse(payload.toString()).payload, 'base64url').toString()).seq as number;
        record(seq);
      });
      await client.subscribeAsync(topic, { qos: 1 });
      bare.push(client);
    }
  };
  await Promise.all(Array.from({ length: 50 }, connectOne));
}

async function startAgents(url: string, site: string, first: number, count: number, centrePem: string, shared: boolean): Promise<void> {
  const verifiedSignatures = shared ? new VerifiedSignatures() : undefined;
  const keys = new TrustStore();
  keys.addEncoded(centrePem, 'centre');
  dir = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
  fleet = await startFleet(
    count,
    (i) => {
      const lane = new FleetLane({
        url,
        site,
        lane: `lane-${first + i}`,
        dir: dir!,
        centreKeys: keys,
        logger,
        config: { colour: { maxSyncAgeSeconds: 3600 } },
        clientOptions: { clientId: `fleet-${first + i}`, reconnectPeriod: 1000 },
        ...(verifiedSignatures ? { verifiedSignatures } : {}),
      });
      lane.link.on('colour-applied', ({ seq, processingMs }) => {
        record(seq);
        processing.push(processingMs);
      });
      return lane;
    },
    { concurrency: 50 },
  );
}

async function waitFor(seq: number, timeoutMs: number): Promise<{ complete: boolean; missing: number }> {
  const expected = bare.length + fleet.length;
  const deadline = Date.now() + timeoutMs;
  while ((times.get(seq)?.length ?? 0) < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const have = times.get(seq)?.length ?? 0;
  return { complete: have >= expected, missing: Math.max(0, expected - have) };
}

async function close(): Promise<void> {
  await Promise.all(bare.map((c) => c.endAsync()));
  await Promise.all(fleet.map((l) => l.stop()));
  bare = [];
  fleet = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
  times.clear();
  processing.length = 0;
}

process.on('message', (message: ChildCommand) => {
  const send = (reply: ChildReply): void => void process.send!(reply);
  const run = async (): Promise<ChildReply> => {
    switch (message.cmd) {
      case 'bare':
        await startBare(message.url, message.site, message.first, message.count);
        return { ok: true, reply: 'ready' };
      case 'agent':
        await startAgents(message.url, message.site, message.first, message.count, message.centrePem, message.sharedVerification);
        return { ok: true, reply: 'ready' };
      case 'wait':
        return { ok: true, reply: 'waited', ...(await waitFor(message.seq, message.timeoutMs)) };
      case 'report':
        return { ok: true, reply: 'report', times: Object.fromEntries(times), processing };
      case 'close':
        await close();
        return { ok: true, reply: 'closed' };
    }
  };
  run().then(send, (error: unknown) => send({ ok: false, error: (error as Error).stack ?? String(error) }));
});
process.on('disconnect', () => process.exit(0));
