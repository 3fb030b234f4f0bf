/**
 * `gate-agent run --config FILE`: the agent on a real gate. Loads and checks
 * the config, opens the lane's hardware from its `hardware` section, starts
 * the agent and runs until SIGINT or SIGTERM (exit 0), or until the board is
 * lost (exit 3, for the service manager to restart it), then shuts down in order.
 */
import { pino } from 'pino';
import { openLaneHardware, type HardwareInjection } from '../../device/lane-hardware.js';
import { GateAgent } from '../agent.js';
import { ConfigError, loadConfig } from '../config/load.js';

/** @param injection virtual hardware under the real drivers (tests); a gate passes none. */
export async function runGate(configPath: string, injection: HardwareInjection = {}): Promise<number> {
  const config = loadConfig(configPath);
  const logger = pino({ level: config.log.level, base: { site: config.site, lane: config.lane } });
  if (!config.hardware) {
    throw new ConfigError(`${configPath}: no "hardware" section: say how the lane is wired (docs/wiring.md), or use npm start for the simulator`);
  }
  if (!config.credentials.trust) {
    throw new ConfigError(`${configPath}: no "credentials.trust": a file or folder of the code issuers' signer certificates`);
  }
  const hardware = await openLaneHardware(config.hardware, logger, injection);
  let agent: GateAgent;
  try {
    agent = new GateAgent({ config, hardware, logger });
  } catch (error) {
    // A bad certificate or key file, mqtt.centreKeys missing: the board must not stay open behind the error.
    await hardware.close();
    if (error instanceof ConfigError) throw new ConfigError(`${configPath}: ${error.message}`);
    throw error;
  }
  await agent.start();
  logger.info({ fever: config.policy.feverThresholdC, broker: config.mqtt.url ?? null }, 'gate agent running');
  // A lost board does not come back by itself: the lane is in staff mode, and the
  // agent exits non-zero so its service manager restarts it and it reconnects.
  const exitCode = await new Promise<number>((resolve) => {
    process.once('SIGINT', () => resolve(0));
    process.once('SIGTERM', () => resolve(0));
    hardware.health.onFault((fault) => {
      if (fault.device === 'board' && fault.active) resolve(3);
    });
  });
  logger[exitCode === 0 ? 'info' : 'error'](exitCode === 0 ? 'stopping' : 'board lost: stopping so the service restarts and reconnects');
  await agent.stop();
  await hardware.close();
  return exitCode;
}
