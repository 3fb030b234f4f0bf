/**
 * `gate-agent run --config FILE`: the agent on a real gate. Loads and checks
 * the config, opens the lane's hardware from its `hardware` section, starts
 * the agent and runs until SIGINT or SIGTERM, then shuts down in order.
 */
import { pino } from 'pino';
import { openLaneHardware } from '../../device/lane-hardware.js';
import { GateAgent } from '../agent.js';
import { ConfigError, loadConfig } from '../config/load.js';

export async function runGate(configPath: string): Promise<number> {
  const config = loadConfig(configPath);
  const logger = pino({ level: config.log.level, base: { site: config.site, lane: config.lane } });
  if (!config.hardware) {
    throw new ConfigError(`${configPath}: no "hardware" section: say how the lane is wired (docs/wiring.md), or use npm start for the simulator`);
  }
  const hardware = await openLaneHardware(config.hardware, logger);
  const agent = new GateAgent({ config, hardware, logger });
  await agent.start();
  logger.info({ fever: config.policy.feverThresholdC, broker: config.mqtt.url ?? null }, 'gate agent running');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info('stopping');
  await agent.stop();
  await hardware.close();
  return 0;
}
