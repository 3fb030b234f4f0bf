/**
 * Child process of the propagation benchmarks: holds a share of the lanes,
 * bare subscribers (one plain MQTT client per lane, nothing done with the
 * message), fleet lanes (the agent's link: verify, store, apply), or a mix
 * of the two (bare subscribers with probe lanes among them, in connection
 * order), and records when each lane first got each colour change. Driven
 * over IPC by propagation.ts and centre-propagation.ts; clocks are
 * performance.timeOrigin + now(), comparable across processes on one machine.
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
  /** `count` lanes connected in order, bare but for the local indices in `probes`, which are fleet lanes verifying on their own. */
  | { cmd: 'mixed'; url: string; site: string; first: number; count: number; probes: number[]; centrePem: string }
  | { cmd: 'wait'; seq: number; timeoutMs: number }
  | { cmd: 'report' }
  | { cmd: 'close' };

export type ChildReply =
  | { ok: true; reply: 'ready' | 'closed' }
  | { ok: true; reply: 'waited'; complete: boolean; missing: number }
  | { ok: true; reply: 'report'; times: Record<number, number[]>; byKind: Record<LaneKind, Record<number, number[]>>; processing: number[] }
  | { ok: false; error: string };

export type LaneKind = 'bare' | 'agent';

const clock = (): number => performance.timeOrigin + performance.now();
const logger = pino({ level: 'error' });
/** seq → the time each lane had it. */
const times = new Map<number, number[]>();
const timesByKind: Record<LaneKind, Map<number, number[]>> = { bare: new Map(), agent: new Map() };
/** Each lane's newest seq recorded: a heartbeat or snapshot at a seq the lane has is not a second arrival. */
const newest = new Map<string, number>();
/** Per lane and change: arrival to applied, inside the lane (agent side only). */
const processing: number[] = [];
let bare: MqttClient[] = [];
let fleet: FleetLane[] = [];
let dir: string | null = null;

function record(kind: LaneKind, lane: string, seq: number): void {
  const at = clock();
  if ((newest.get(lane) ?? -1) >= seq) return;
  newest.set(lane, seq);
  for (const map of [times, timesByKind[kind]]) {
    let list = map.get(seq);
    if (!list) map.set(seq, (list = []));
    list.push(at);
  }
}

async function connectBare(url: string, site: string, index: number): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId: `bare-${index}`, protocolVersion: 5, clean: true, reconnectPeriod: 0 });
  client.on('message', (_topic, payload) => {
    // The seq is all a bare subscriber looks at: read without verifying anything.
    const seq = JSON.parse(Buffer.from(JSON.parse(payload.toString()).payload, 'base64url').toString()).seq as number;
    record('bare', `bare-${index}`, seq);
  });
  await client.subscribeAsync(siteTopic('hc/v1', site, 'colour/change'), { qos: 1 });
  return client;
}

async function startBare(url: string, site: string, first: number, count: number): Promise<void> {
  let next = 0;
  const connectOne = async (): Promise<void> => {
    while (next < count) bare.push(await connectBare(url, site, first + next++));
  };
  await Promise.all(Array.from({ length: 50 }, connectOne));
}

function makeLane(url: string, site: string, index: number, keys: TrustStore, verifiedSignatures?: VerifiedSignatures): FleetLane {
  dir ??= mkdtempSync(join(tmpdir(), 'bench-fleet-'));
  const lane = new FleetLane({
    url,
    site,
    lane: `lane-${index}`,
    dir,
    centreKeys: keys,
    logger,
    config: { colour: { maxSyncAgeSeconds: 3600 } },
    clientOptions: { clientId: `fleet-${index}`, reconnectPeriod: 1000 },
    ...(verifiedSignatures ? { verifiedSignatures } : {}),
  });
  lane.link.on('colour-applied', ({ seq, processingMs }) => {
    record('agent', `lane-${index}`, seq);
    processing.push(processingMs);
  });
  return lane;
}

function centreKeys(centrePem: string): TrustStore {
  const keys = new TrustStore();
  keys.addEncoded(centrePem, 'centre');
  return keys;
}

async function startAgents(url: string, site: string, first: number, count: number, centrePem: string, shared: boolean): Promise<void> {
  const verifiedSignatures = shared ? new VerifiedSignatures() : undefined;
  const keys = centreKeys(centrePem);
  fleet = await startFleet(count, (i) => makeLane(url, site, first + i, keys, verifiedSignatures), { concurrency: 50 });
}

/** Connected in index order, a few at a time, so that the probes keep their places in the broker's subscriber order. */
async function startMixed(url: string, site: string, first: number, count: number, probes: readonly number[], centrePem: string): Promise<void> {
  const keys = centreKeys(centrePem);
  const isProbe = new Set(probes);
  let next = 0;
  const connectOne = async (): Promise<void> => {
    while (next < count) {
      const local = next++;
      if (isProbe.has(local)) {
        const lane = makeLane(url, site, first + local, keys);
        fleet.push(lane);
        await lane.start();
      } else {
        bare.push(await connectBare(url, site, first + local));
      }
    }
  };
  await Promise.all(Array.from({ length: 20 }, connectOne));
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
  timesByKind.bare.clear();
  timesByKind.agent.clear();
  newest.clear();
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
      case 'mixed':
        await startMixed(message.url, message.site, message.first, message.count, message.probes, message.centrePem);
        return { ok: true, reply: 'ready' };
      case 'wait':
        return { ok: true, reply: 'waited', ...(await waitFor(message.seq, message.timeoutMs)) };
      case 'report':
        return {
          ok: true,
          reply: 'report',
          times: Object.fromEntries(times),
          byKind: { bare: Object.fromEntries(timesByKind.bare), agent: Object.fromEntries(timesByKind.agent) },
          processing,
        };
      case 'close':
        await close();
        return { ok: true, reply: 'closed' };
    }
  };
  run().then(send, (error: unknown) => send({ ok: false, error: (error as Error).stack ?? String(error) }));
});
process.on('disconnect', () => process.exit(0));
