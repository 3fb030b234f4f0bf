/**
 * The agent's Prometheus metrics: decisions by verdict and reason,
 * decision and frame decode times, device faults, the outbox, the colour
 * sync, the broker link and the lane's state, plus Node's process metrics.
 *
 * One registry per agent, never prom-client's global one: a process that runs
 * several agents (the tests, a fleet simulation) would otherwise mix their
 * counts, and a second agent would fail to register the same names.
 *
 * Counters and histograms follow the lane's events between start() and
 * stop(); gauges read the live value when scraped (collect()), so a scrape is
 * never older than itself and no timer runs for it.
 *
 * Labels carry only bounded, non-personal values: site and lane (config ids),
 * verdict and reason codes (a closed set: anything else is counted as
 * 'other'), fault kinds and lane states. Never a subject, a name or a code.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { FrameTimings } from '../../device/contracts.js';
import type { MetricsConfig } from '../../protocol/config/gate-schema.js';
import type { DecisionRecord, Lane, LaneFault, LaneState } from '../lane/lane.js';
import { REASONS } from '../../protocol/reasons.js';
import type { Verdict } from '../../protocol/domain.js';
import { MetricsServer } from './metrics-server.js';

export interface GateMetricsOptions {
  site: string;
  /** The lane's id (the constant `lane` label). */
  laneId: string;
  lane: Lane;
  /** The camera's frame timings; absent on a gate without a camera. */
  frames?: FrameTimings | undefined;
  /** The outbox's depth and oldest message; null without a broker (nothing waits then). */
  outbox: { readonly depth: number; readonly oldestAgeMs: number | null } | null;
  /** Milliseconds since the centre's last valid message; null: never heard from it, or no broker configured. */
  colourSyncAgeMs: () => number | null;
  brokerConnected: () => boolean;
  degraded: () => boolean;
  /** The endpoint; not served unless enabled. */
  server: MetricsConfig;
  logger: Logger;
}

// Decisions take from under a millisecond (a refused code) to the thermometer's
// deadline (2 s by default) or an online look-up's: 1 ms to 2 s, then +Inf.
const DECISION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];
// A 1280×720 frame takes about 10 ms in the camera pipeline on the benchmark
// machine against a 15 ms goal (docs/benchmarks.md), several times that on a
// Pi, and @zxing/library up to 400 ms on a frame without a code.
const FRAME_BUCKETS = [0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

const VERDICTS: readonly Verdict[] = ['pass', 'deny', 'hold'];

// Records, so that a new state or fault kind is a compile error here until it is listed.
const LANE_STATES = Object.keys({
  idle: 1, reading: 1, measuring: 1, deciding: 1, open: 1, locked: 1, held: 1, staff: 1, emergency: 1,
} satisfies Record<LaneState, 1>) as LaneState[];
const FAULT_KINDS = Object.keys({
  board: 1, relay: 1, scanner: 1, camera: 1, 'id-card-reader': 1, thermometer: 1, journal: 1, driver: 1,
} satisfies Record<LaneFault['kind'], 1>) as Array<LaneFault['kind']>;

/** A gauge with no sample while its value is unknown: the scrape shows no line rather than a made-up 0. */
class GaugeUnlessUnknown extends Gauge {
  constructor(
    config: { name: string; help: string; registers: Registry[] },
    private readonly read: () => number | null,
  ) {
    super(config);
  }

  override async get(): ReturnType<Gauge['get']> {
    const value = this.read();
    if (value !== null) this.set(value);
    const metric = await super.get();
    return value === null ? { ...metric, values: [] } : metric;
  }
}

export class GateMetrics {
  readonly registry = new Registry();
  private readonly decisions: Counter<'verdict' | 'reason'>;
  private readonly decisionSeconds: Histogram;
  private readonly frameDecodeSeconds: Histogram;
  private readonly faults: Counter<'device'>;
  private readonly server: MetricsServer | null;
  private readonly unsubscribers: Array<() => void> = [];

  constructor(private readonly options: GateMetricsOptions) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ site: options.site, lane: options.laneId });
    collectDefaultMetrics({ register: this.registry });

    this.decisions = new Counter({
      name: 'gate_decisions_total',
      help: 'Decisions made by the lane, by verdict and reason code',
      labelNames: ['verdict', 'reason'],
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: 'gate_decision_seconds',
      help: 'Time from the code read (or the staff action) to the verdict',
      buckets: DECISION_BUCKETS,
      registers,
    });
    this.frameDecodeSeconds = new Histogram({
      name: 'gate_frame_decode_seconds',
      help: "Time to decode one camera frame to code texts (the snapshot's fetch not included)",
      buckets: FRAME_BUCKETS,
      registers,
    });
    this.faults = new Counter({
      name: 'gate_sensor_faults_total',
      help: 'Faults the lane reported, by device (recoveries not counted)',
      labelNames: ['device'],
      registers,
    });
    // Every known device at 0 from the start: rate() and increase() need the series before its first fault.
    for (const device of FAULT_KINDS) this.faults.inc({ device }, 0);

    const { outbox } = options;
    new Gauge({
      name: 'gate_outbox_messages',
      help: 'Messages waiting in the outbox for the broker',
      registers,
      collect() {
        this.set(outbox?.depth ?? 0);
      },
    });
    new Gauge({
      name: 'gate_outbox_oldest_age_seconds',
      help: 'Age of the oldest message waiting in the outbox; 0 when it is empty',
      registers,
      collect() {
        this.set((outbox?.oldestAgeMs ?? 0) / 1000);
      },
    });
    new GaugeUnlessUnknown(
      { name: 'gate_colour_sync_age_seconds', help: "Time since the centre's last valid colour message; no sample before the first one", registers },
      () => {
        const ms = options.colourSyncAgeMs();
        return ms === null ? null : ms / 1000;
      },
    );
    new Gauge({
      name: 'gate_broker_connected',
      help: '1 while connected to the MQTT broker, else 0',
      registers,
      collect() {
        this.set(options.brokerConnected() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'gate_degraded',
      help: '1 while the gate is cut off from the centre (colour.maxSyncAgeSeconds passed), else 0',
      registers,
      collect() {
        this.set(options.degraded() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'gate_lane_state',
      help: "The lane's state: 1 for the current one, 0 for the others",
      labelNames: ['state'],
      registers,
      collect() {
        const current = options.lane.state;
        for (const state of LANE_STATES) this.set({ state }, state === current ? 1 : 0);
      },
    });

    this.server = options.server.enabled
      ? new MetricsServer({ host: options.server.host, port: options.server.port, path: options.server.path, registry: this.registry, logger: options.logger })
      : null;
  }

  /** Follows the lane and the camera; serves the endpoint when enabled. Resolves with its URL, null when not served. */
  async start(): Promise<string | null> {
    if (this.unsubscribers.length === 0) {
      const { lane, frames } = this.options;
      const onDecision = (record: DecisionRecord): void => this.countDecision(record);
      const onFault = (fault: LaneFault): void => this.countFault(fault);
      lane.on('decision', onDecision);
      lane.on('fault', onFault);
      this.unsubscribers.push(() => lane.off('decision', onDecision), () => lane.off('fault', onFault));
      if (frames) this.unsubscribers.push(frames.onFrameDecoded((frame) => this.frameDecodeSeconds.observe(frame.decodeMs / 1000)));
    }
    return this.server ? this.server.start() : null;
  }

  async stop(): Promise<void> {
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    await this.server?.stop();
  }

  /** The exposition text, as a scrape gets it. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  private countDecision({ event }: DecisionRecord): void {
    const verdict = (VERDICTS as readonly string[]).includes(event.verdict) ? event.verdict : 'other';
    const reason = Object.hasOwn(REASONS, event.reason) ? event.reason : 'other';
    this.decisions.inc({ verdict, reason });
    this.decisionSeconds.observe(event.decisionMs / 1000);
  }

  private countFault(fault: LaneFault): void {
    if (fault.active === false) return;
    const device = FAULT_KINDS.includes(fault.kind) ? fault.kind : 'other';
    this.faults.inc({ device });
  }
}
