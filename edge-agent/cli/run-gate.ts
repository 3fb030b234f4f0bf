/**
 * `gate-agent run --config FILE`: the agent on a real gate. Loads and checks
 * the config, opens the lane's hardware from its `hardware` section, starts
 * the agent and runs until SIGINT or SIGTERM (exit 0), or until the board is
 * lost (exit 3, for the service manager to restart it), then stops what it
 * started in reverse order: the agent, then the hardware.
 *
 * A start that fails stops what had started, logs one line with the
 * failure's code (StartFailureCode) and throws; the command line exits
 * non-zero, so a service manager restarts the gate instead of leaving it half
 * started; the log line names the component that failed. A signal during
 * the start stops it there. Stopping is bounded: a component of the agent
 * still stopping at two thirds of the bound is left behind and the rest
 * still stop (the lane locks the leaf, the journal is closed); if stopping
 * has not finished STOP_BOUND_MS after the signal (a driver that does not
 * let go), the reason is logged (code 'stop-timeout') and runGate returns 1
 * anyway; a second signal ends the process at once.
 */
import { pino, type Logger } from 'pino';
import { isBoardError } from '../../device/errors.js';
import { openLaneHardware, type HardwareInjection } from '../../device/lane-hardware.js';
import { GateAgent } from '../agent.js';
import { ComponentStartError, startFailureCause } from '../components/component.js';
import { loadConfig } from '../../protocol/config/gate-config.js';
import { StartedParts } from '../lifecycle.js';
import { ConfigError } from '../../protocol/config/errors.js';

/** How long stopping may take after SIGINT/SIGTERM (the CLI then exits within 1 s more: docs/operations.md). */
export const STOP_BOUND_MS = 9_000;
/**
 * The agent's share of the bound (6 s of 9 s): a component still stopping
 * then is left behind and the ones after it still stop (the lane locks the
 * leaf, the journal is closed); the rest of the bound is the hardware's.
 */
const AGENT_SHARE_OF_BOUND = 2 / 3;

/** Why a start failed, as its log line says. */
export type StartFailureCode = 'config' | 'board' | 'address-in-use' | 'system' | 'internal';

export function startFailureCode(failure: unknown): StartFailureCode {
  // A component that failed to start: what failed under it says which kind of failure it was.
  const error = startFailureCause(failure);
  if (error instanceof ConfigError) return 'config';
  if (isBoardError(error)) return 'board';
  const errno = (error as { code?: unknown } | null)?.code;
  if (errno === 'EADDRINUSE') return 'address-in-use';
  // A Node system error (EACCES on a port, ENOENT on a device): the gate's surroundings, not a bug.
  if (typeof errno === 'string' && /^E[A-Z]+$/.test(errno)) return 'system';
  return 'internal';
}

export interface RunGateOptions {
  stopBoundMs?: number;
  running?: (agent: GateAgent) => void;
}

/** Ends a wait (start or run) early and bounds what follows: armed once, by the first signal or by a lost board. */
class StopRequest {
  reason: { signal: NodeJS.Signals } | { boardLost: true } | null = null;
  /** When the agent's components must have stopped by (epoch ms); null until a stop is requested. */
  agentDeadline: number | null = null;
  private readonly listeners = new Set<() => void>();
  private overdue: NodeJS.Timeout | undefined;
  /** Resolves with 1 once stopping has taken longer than the bound. */
  readonly overdueExit: Promise<number>;
  private resolveOverdue!: (code: number) => void;

  constructor(
    private readonly logger: Logger,
    private readonly boundMs: number,
  ) {
    this.overdueExit = new Promise((resolve) => (this.resolveOverdue = resolve));
  }

  request(reason: NonNullable<StopRequest['reason']>): void {
    if (this.reason) return;
    this.reason = reason;
    this.agentDeadline = Date.now() + this.boundMs * AGENT_SHARE_OF_BOUND;
    this.overdue = setTimeout(() => {
      this.logger.error({ code: 'stop-timeout', boundMs: this.boundMs }, `the gate did not stop within ${this.boundMs} ms: exiting anyway`);
      this.resolveOverdue(1);
    }, this.boundMs);
    for (const listener of this.listeners) listener();
  }

  /** Resolves when a stop is requested (at once if it already was). */
  wait(): Promise<void> {
    if (this.reason) return Promise.resolve();
    return new Promise((resolve) => {
      const listener = (): void => {
        this.listeners.delete(listener);
        resolve();
      };
      this.listeners.add(listener);
    });
  }

  dispose(): void {
    clearTimeout(this.overdue);
    this.listeners.clear();
  }
}

/**
 * @param injection virtual hardware under the real drivers (tests); a gate passes none.
 * @param options.stopBoundMs the stop bound, STOP_BOUND_MS unless a test shortens it.
 * @param options.running given the agent once it runs (a test watches its lane).
 */
export async function runGate(configPath: string, injection: HardwareInjection = {}, options: RunGateOptions = {}): Promise<number> {
  const config = loadConfig(configPath);
  const logger = pino({ level: config.log.level, base: { site: config.site, lane: config.lane } });
  const stop = new StopRequest(logger, options.stopBoundMs ?? STOP_BOUND_MS);
  const onSignal = (signal: NodeJS.Signals): void => {
    // Listened for once: a second signal gets the default action and ends the process at once.
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    logger.info({ signal }, 'stopping');
    stop.request({ signal });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await Promise.race([runUntilStopped(configPath, config, logger, injection, stop, options.running), stop.overdueExit]);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stop.dispose();
  }
}

async function runUntilStopped(
  configPath: string,
  config: ReturnType<typeof loadConfig>,
  logger: Logger,
  injection: HardwareInjection,
  stop: StopRequest,
  running: RunGateOptions['running'],
): Promise<number> {
  const parts = new StartedParts(logger);
  try {
    const wiring = config.hardware;
    if (!wiring) {
      throw new ConfigError('invalid', `no "hardware" section: say how the lane is wired (docs/wiring.md), or use npm start for the simulator`);
    }
    if (!config.credentials.trust) {
      throw new ConfigError('invalid', `no "credentials.trust": a file or folder of the code issuers' signer certificates`);
    }
    if (!wiring.scanner && !wiring.camera) {
      // Checked before the board is opened: a lane that could read no code must not start at all.
      throw new ConfigError('invalid', 'hardware: neither a scanner nor a camera is configured; the lane could read no code');
    }
    const hardware = await parts.start('hardware', () => openLaneHardware(wiring, logger, injection), (opened) => opened.close());
    if (stop.reason) return await stopped(parts, 0);
    // A bad certificate or key file, mqtt.centreKeys missing: the constructor closes what it opened, the board is closed below.
    const agent = new GateAgent({ config, hardware, logger });
    // Bounded once a stop is requested; a start that failed has no signal's bound to keep.
    await parts.start('agent', () => agent.start(), () => agent.stop(stop.agentDeadline === null ? {} : { deadline: stop.agentDeadline }));
    if (stop.reason) return await stopped(parts, 0);
    logger.info({ fever: config.policy.feverThresholdC, broker: config.mqtt.url ?? null }, 'gate agent running');
    running?.(agent);

    // A lost board does not come back by itself: the lane is in staff mode, and the
    // agent exits non-zero so its service manager restarts it and it reconnects.
    const offBoard = hardware.health.onFault((fault) => {
      if (fault.device === 'board' && fault.active) stop.request({ boardLost: true });
    });
    // Every timer of the agent is unref'd: this holds the process while the gate runs.
    const keepAlive = setInterval(() => {}, 2 ** 31 - 1);
    try {
      await stop.wait();
    } finally {
      clearInterval(keepAlive);
      offBoard();
    }
    const boardLost = stop.reason !== null && 'boardLost' in stop.reason;
    if (boardLost) logger.error('board lost: stopping so the service restarts and reconnects');
    return await stopped(parts, boardLost ? 3 : 0);
  } catch (error) {
    await parts.stopAll();
    // A config problem found by a component is still the config's: named by the file, the component and the key.
    const cause = startFailureCause(error);
    const failure =
      cause instanceof ConfigError && !(error as Error).message.startsWith(`${configPath}:`) ? new ConfigError(cause.code, `${configPath}: ${(error as Error).message}`) : error;
    const code = startFailureCode(failure);
    const message = (failure as Error).message ?? String(failure);
    const component = error instanceof ComponentStartError ? { component: error.component } : {};
    logger.fatal({ code, ...component, ...(code === 'config' ? {} : { err: failure }) }, `gate agent did not start: ${message}`);
    throw failure;
  }
}

async function stopped(parts: StartedParts, exitCode: number): Promise<number> {
  await parts.stopAll();
  return exitCode;
}
