/**
 * End to end through the real centre: from the platform's API request (the
 * moment it is sent) to the change applied at the gates, for 1,000 and
 * 5,000 lanes on a real Mosquitto. The centre (centre-setup.ts) stores the
 * batch, answers, and its publisher signs and publishes the change message.
 *
 * Two ways of standing in for the fleet, each in the same two child
 * processes (propagation-child.ts):
 * - probes: N subscribers, all bare (a plain MQTT client that reads the seq)
 *   but 20 probe lanes spread over the connection order, which do the
 *   gate's whole work (GateLink, ColourSync verifying the signature itself,
 *   the journal). A real gate has its own CPU; here the few probes compete
 *   only with the bare subscribers, so their time beside the bare ones, in
 *   the same run, is what a gate adds to the broker's fan-out.
 * - one controller hosting many lanes: every one of the N lanes does the
 *   gate's work, the lanes of a child sharing verified signatures as the
 *   lanes of one controller do (the propagation benchmark's figure, with the
 *   real centre in front).
 */
import { percentile, round } from './stats.js';
import { Child } from './propagation.js';
import type { ChildCommand } from './propagation-child.js';
import { clock, startBenchCentre, type BenchCentre, type CentreBenchStore } from './centre-setup.js';

export interface CentrePropagationOptions {
  brokerUrl: string;
  store: CentreBenchStore;
  sizes: number[];
  rounds: number;
  probes: number;
  children: number;
  progress: (message: string) => void;
}

interface Latencies {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  samples: number;
}

function latencies(samples: number[]): Latencies {
  return {
    p50Ms: round(percentile(samples, 50), 1),
    p99Ms: round(percentile(samples, 99), 1),
    maxMs: round(samples.length ? Math.max(...samples) : NaN, 1),
    samples: samples.length,
  };
}

/** The platform's request: one red change, as one batch. Resolves with its seq once answered (after the commit). */
async function push(centre: BenchCentre, batchId: string): Promise<number> {
  const response = await fetch(`${centre.url}/v1/sites/${centre.site}/changes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${centre.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ batchId, changes: [{ subject: `${batchId}-subject`, colour: 'red', effectiveAt: Date.now() }] }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST changes: ${response.status} ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { seq: number }).seq;
}

/** Evenly spread local positions of `n` probes among `count` lanes. */
function spread(n: number, count: number): number[] {
  return Array.from({ length: n }, (_, k) => Math.min(count - 1, Math.floor(((k + 0.5) * count) / n)));
}

interface PhaseResult {
  bare: number[];
  agent: number[];
  /** The same arrivals from the broker's PUBACK of the change message: the fan-out and the lane's work alone. */
  bareAfterPuback: number[];
  agentAfterPuback: number[];
  /** Request sent → the broker's PUBACK of the change message. */
  published: number[];
  missing: number;
}

async function runPhase(kind: 'probes' | 'controller', lanes: number, children: Child[], centre: BenchCentre, options: CentrePropagationOptions): Promise<PhaseResult> {
  const share = Math.ceil(lanes / children.length);
  const probesEach = Math.ceil(options.probes / children.length);
  const connectedAt = Date.now();
  await Promise.all(
    children.map((child, i) => {
      const first = i * share;
      const count = Math.max(0, Math.min(share, lanes - first));
      const base = { url: centre.centre.broker.endpoint.url, site: centre.site, first, count, centrePem: centre.certificatePem };
      const command: ChildCommand =
        kind === 'probes' ? { cmd: 'mixed', ...base, probes: spread(probesEach, count) } : { cmd: 'agent', ...base, sharedVerification: true };
      return child.ask(command);
    }),
  );
  options.progress(`${lanes} lanes (${kind}) connected in ${round((Date.now() - connectedAt) / 1000, 1)} s`);
  const sent = new Map<number, number>();
  const acked = new Map<number, number>();
  const published: number[] = [];
  let missing = 0;
  // One unmeasured round first: every lane has the retained snapshot and the change before it, and is in step.
  for (let r = -1; r < options.rounds; r++) {
    await new Promise((resolve) => setTimeout(resolve, r < 0 ? 500 : 1500));
    const before = clock();
    const seq = await push(centre, `e2e-${kind}-${lanes}-${r + 1}-${Date.now()}`);
    const waited = await Promise.all(children.map((c) => c.ask({ cmd: 'wait', seq, timeoutMs: 20_000 })));
    const lost = waited.reduce((n, w) => n + (w.ok && w.reply === 'waited' ? w.missing : 0), 0);
    if (r < 0) {
      if (lost > 0) options.progress(`${lanes} ${kind}: ${lost} lanes not in step after the first round`);
      continue;
    }
    sent.set(seq, before);
    acked.set(seq, await centre.publishedBy(seq, 10_000));
    published.push(acked.get(seq)! - before);
    missing += lost;
  }
  const result: PhaseResult = { bare: [], agent: [], bareAfterPuback: [], agentAfterPuback: [], published, missing };
  for (const child of children) {
    const reply = await child.ask({ cmd: 'report' });
    if (!reply.ok || reply.reply !== 'report') continue;
    for (const [seq, at] of sent) {
      const puback = acked.get(seq)!;
      for (const t of reply.byKind.bare[seq] ?? []) {
        result.bare.push(t - at);
        result.bareAfterPuback.push(t - puback);
      }
      for (const t of reply.byKind.agent[seq] ?? []) {
        result.agent.push(t - at);
        result.agentAfterPuback.push(t - puback);
      }
    }
  }
  await Promise.all(children.map((c) => c.ask({ cmd: 'close' })));
  return result;
}

export async function benchCentrePropagation(options: CentrePropagationOptions): Promise<Record<string, unknown>> {
  const centre = await startBenchCentre({ store: options.store, brokerUrl: options.brokerUrl, site: 'e2e' });
  const children = Array.from({ length: options.children }, () => new Child());
  const results: Array<Record<string, unknown>> = [];
  try {
    for (const lanes of options.sizes) {
      const mixed = await runPhase('probes', lanes, children, centre, options);
      const bare = latencies(mixed.bare);
      const probe = latencies(mixed.agent);
      const goalMet = mixed.missing === 0 && probe.p99Ms <= bare.p99Ms + 25 && probe.p99Ms < 1000;
      options.progress(`${lanes} lanes: bare p50 ${bare.p50Ms} / p99 ${bare.p99Ms} ms, probe p50 ${probe.p50Ms} / p99 ${probe.p99Ms} ms, ${mixed.missing} missing`);
      const controller = await runPhase('controller', lanes, children, centre, options);
      const hosted = latencies(controller.agent);
      options.progress(`${lanes} lanes on one controller: p50 ${hosted.p50Ms} / p99 ${hosted.p99Ms} ms, ${controller.missing} missing`);
      results.push({
        lanes,
        probeLanes: options.probes,
        requestToPubackMs: latencies(mixed.published),
        bare,
        probe: { ...probe, overBareP99Ms: round(probe.p99Ms - bare.p99Ms, 1) },
        // Arrival less the PUBACK can be slightly negative: a subscriber may have the message before the publisher has its PUBACK.
        afterPuback: { bare: latencies(mixed.bareAfterPuback), probe: latencies(mixed.agentAfterPuback) },
        missing: mixed.missing,
        goalMet,
        oneControllerHostingManyLanes: {
          ...hosted,
          missing: controller.missing,
          requestToPubackMs: latencies(controller.published),
          afterPuback: latencies(controller.agentAfterPuback),
        },
      });
    }
  } finally {
    for (const child of children) child.kill();
    await centre.stop();
  }
  return {
    goal: 'probe p99 at most bare p99 + 25 ms, and under 1 s (from the API request sent to applied at the lane)',
    store: options.store,
    children: options.children,
    rounds: options.rounds,
    results,
  };
}
