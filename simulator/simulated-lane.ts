/**
 * One simulated lane: the real edge agent on the real device drivers, which
 * run on wire-level virtual hardware (virtual board, MockBinding scanner,
 * ONVIF camera emulator); the agent trusts the reference platform's issuer,
 * and the crowd's world (platform, a stranger issuer, a forger) is around it.
 * Used by `npm start` and the end-to-end tests.
 */
import type { Logger } from 'pino';
import { openLaneHardware, type OpenLaneHardware } from '../device/lane-hardware.js';
import { GateAgent } from '../edge-agent/agent.js';
import { ColourStatusStore } from '../edge-agent/colour/status-store.js';
import type { GateConfig } from '../edge-agent/config/schema.js';
import { TrustStore } from '../edge-agent/credential/trust-store.js';
import { createCrowdWorld, type CrowdWorld } from './crowd.js';
import { WireLane } from './hardware/wire-lane.js';

export interface SimulatedLane {
  agent: GateAgent;
  hardware: OpenLaneHardware;
  /** The person's side of the virtual hardware. */
  wire: WireLane;
  world: CrowdWorld;
  /** Stop the agent, the drivers and the virtual devices. */
  close(): Promise<void>;
}

export async function createSimulatedLane(config: GateConfig, logger: Logger): Promise<SimulatedLane> {
  const colours = new ColourStatusStore();
  const world = await createCrowdWorld(colours);
  const trust = new TrustStore();
  trust.add(world.platform.issuer.certificate, 'reference platform');
  const wire = await WireLane.start();
  const hardware = await openLaneHardware(wire.hardwareConfig(), logger, wire.injection());
  const agent = new GateAgent({ config, hardware, logger, trust, colours });
  return {
    agent,
    hardware,
    wire,
    world,
    close: async () => {
      await agent.stop();
      await hardware.close();
      await wire.close();
    },
  };
}
