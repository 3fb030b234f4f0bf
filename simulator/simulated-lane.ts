/**
 * One simulated lane: the real edge agent on virtual hardware, trusting the
 * reference platform's issuer, with the crowd's world (platform, a stranger
 * issuer, a forger) around it. Used by `npm start` and the end-to-end tests.
 */
import type { Logger } from 'pino';
import { GateAgent } from '../edge-agent/agent.js';
import { ColourStatusStore } from '../edge-agent/colour/status-store.js';
import type { GateConfig } from '../edge-agent/config/schema.js';
import { TrustStore } from '../edge-agent/credential/trust-store.js';
import { createCrowdWorld, type CrowdWorld } from './crowd.js';
import { createVirtualLaneHardware, type VirtualLaneHardware } from './hardware/virtual-lane.js';

export interface SimulatedLane {
  agent: GateAgent;
  hardware: VirtualLaneHardware;
  world: CrowdWorld;
}

export async function createSimulatedLane(config: GateConfig, logger: Logger): Promise<SimulatedLane> {
  const colours = new ColourStatusStore();
  const world = await createCrowdWorld(colours);
  const trust = new TrustStore();
  trust.add(world.platform.issuer.certificate, 'reference platform');
  const hardware = createVirtualLaneHardware();
  const agent = new GateAgent({ config, hardware, logger, trust, colours });
  return { agent, hardware, world };
}
