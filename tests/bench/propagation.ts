/**
 * `npm run bench -- propagation`: the centre publishes a red change; how long
 * until every lane has verified, stored and applied it? Measured on a real
 * Mosquitto for 1,000 and 5,000 lanes, beside the bare broker fan-out in the
 * same run (one plain subscriber per lane that only reads the seq).
 *
 * The lanes live in child processes (two by default, as this machine has
 * two cores); the bare subscribers are spread over the same children, so
 * both sides pay the same client-side costs. Each lane of the agent side is
 * the agent's own link code (GateLink, ColourSync, the journal file with its
 * pushed colours and outbox, one per lane) without hardware.
 *
 * The agent side runs twice: each lane verifying the signature itself, and
 * the lanes of a child sharing verified signatures (VerifiedSignatures), as
 * the lanes of one controller do. On a real fleet every gate verifies on its
 * own CPU at the same time; here 5,000 verifications of ~50 µs queue on two
 * cores, which the bare subscribers never pay, so the first figure measures
 * the simulation as much as the gate.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SimulatedCentre } from '../support/centre-double.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { mosquittoAvailable, startMosquitto } from '../support/mosquitto.js';
import type { ChildCommand, ChildReply } from './propagation-child.js';
import { percentile, round } from './stats.js';

export interface PropagationOptions {
  sizes: number[];
  rounds: number;
  children: number;
  progress: (message: string) => void;
}

const clock = (): number => performance.timeOrigin + performance.now();

/** One child process of lanes (propagation-child.ts), asked one command at a time. */
export class Child {
  private readonly process: ChildProcess;
  private pending: ((reply: ChildReply) => void) | null = null;

  constructor() {
    this.process = fork(fileURLToPath(new URL('./propagation-child.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.process.on('message', (reply: ChildReply) => {
      const resolve = this.pending;
      this.pending = null;
      resolve?.(reply);
    });
  }

  async ask(command: ChildCommand): Promise<ChildReply> {
    const reply = await new Promise<ChildReply>((resolve) => {
      this.pending = resolve;
      this.process.send(command);
    });
    if (!reply.ok) throw new Error(`propagation child: ${reply.error}`);
    return reply;
  }

  kill(): void {
    this.process.kill();
  }
}

interface Phase {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  samples: number;
  missing: number;
  /** Agent side: time inside each lane from the message's arrival to applied (verify, store, apply). */
  laneProcessing?: { p50Ms: number; p99Ms: number };
}

type PhaseKind = 'bare' | 'agent' | 'agent-shared-verification';

async function runPhase(
  kind: PhaseKind,
  lanes: number,
  children: Child[],
  centre: SimulatedCentre,
  url: string,
  site: string,
  rounds: number,
  progress: (m: string) => void,
): Promise<Phase> {
  const share = Math.ceil(lanes / children.length);
  const startedAt = Date.now();
  await Promise.all(
    children.map((child, i) => {
      const first = i * share;
      const count = Math.max(0, Math.min(share, lanes - first));
      const command: ChildCommand =
        kind === 'bare'
          ? { cmd: 'bare', url, site, first, count }
          : { cmd: 'agent', url, site, first, count, centrePem: centre.certificatePem, sharedVerification: kind === 'agent-shared-verification' };
      return child.ask(command);
    }),
  );
  progress(`${lanes} ${kind} lanes connected in ${round((Date.now() - startedAt) / 1000, 1)} s`);
  if (kind !== 'bare') {
    // Lanes start from the retained snapshot, as a new gate does.
    await centre.publishSnapshot(site);
    await new Promise((r) => setTimeout(r, 2000));
  }
  const latencies: number[] = [];
  const processing: number[] = [];
  let missing = 0;
  const published = new Map<number, number>();
  for (let r = 0; r < rounds; r++) {
    // Let the previous round's acknowledgements and writes settle: each round is measured on a quiet fleet.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const sub = `bench-${kind}-${lanes}-${r}`;
    const before = clock();
    const { seq } = await centre.pushColours(site, [{ sub, colour: 'red' }]);
    published.set(seq, before);
    const waited = await Promise.all(children.map((c) => c.ask({ cmd: 'wait', seq, timeoutMs: 10_000 })));
    missing += waited.reduce((n, w) => n + (w.ok && w.reply === 'waited' ? w.missing : 0), 0);
  }
  for (const child of children) {
    const reply = await child.ask({ cmd: 'report' });
    if (!reply.ok || reply.reply !== 'report') continue;
    for (const [seq, at] of published) for (const t of reply.times[seq] ?? []) latencies.push(t - at);
    processing.push(...reply.processing);
  }
  await Promise.all(children.map((c) => c.ask({ cmd: 'close' })));
  latencies.sort((a, b) => a - b);
  const phase = {
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    maxMs: round(latencies[latencies.length - 1] ?? NaN, 1),
    samples: latencies.length,
    missing,
    ...(processing.length > 0 ? { laneProcessing: { p50Ms: round(percentile(processing, 50), 3), p99Ms: round(percentile(processing, 99), 3) } } : {}),
  };
  progress(`${lanes} ${kind}: p50 ${phase.p50Ms} ms, p99 ${phase.p99Ms} ms, max ${phase.maxMs} ms, ${phase.missing} missing`);
  return phase;
}

export async function benchPropagation(options: PropagationOptions): Promise<Record<string, unknown>> {
  if (!mosquittoAvailable()) throw new Error('mosquitto not installed: apt-get install -y mosquitto');
  const broker = await startMosquitto({ plain: true, extra: 'max_queued_messages 100000' });
  const key = await createSignerCertificate({ subject: 'CN=Bench centre' });
  const centre = await SimulatedCentre.start({ url: broker.url, key });
  const children = Array.from({ length: options.children }, () => new Child());
  const results: Array<Record<string, unknown>> = [];
  try {
    for (const lanes of options.sizes) {
      const bare = await runPhase('bare', lanes, children, centre, broker.url, `bench-${lanes}-bare`, options.rounds, options.progress);
      const agent = await runPhase('agent', lanes, children, centre, broker.url, `bench-${lanes}-agent`, options.rounds, options.progress);
      const shared = await runPhase('agent-shared-verification', lanes, children, centre, broker.url, `bench-${lanes}-shared`, options.rounds, options.progress);
      const verdict = (p: Phase): { ratioP99: number; goalMet: boolean } => ({
        ratioP99: round(p.p99Ms / bare.p99Ms, 2),
        goalMet: p.missing === 0 && p.p99Ms <= 2 * bare.p99Ms && p.p99Ms < 1000,
      });
      results.push({
        lanes,
        bareFanOut: bare,
        agentEachLaneVerifies: { ...agent, ...verdict(agent) },
        agentSharedVerification: { ...shared, ...verdict(shared) },
        // A model, not a measurement: on a real fleet each gate works on its own CPU, in parallel,
        // so a change is applied about one lane's processing time after the broker delivers it.
        modelOwnCpuP99Ms: agent.laneProcessing ? round(bare.p99Ms + agent.laneProcessing.p99Ms, 1) : null,
      });
    }
  } finally {
    for (const child of children) child.kill();
    await centre.stop();
    await broker.stop();
  }
  return {
    benchmark: 'propagation',
    broker: 'mosquitto (Debian), plain listener on loopback',
    children: options.children,
    rounds: options.rounds,
    goal: 'agent p99 at most twice the bare fan-out p99, and under 1 s',
    // The lanes share two cores here; a real gate has its own.
    cores: (await import('node:os')).availableParallelism(),
    results,
  };
}
