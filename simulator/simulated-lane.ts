/**
 * One simulated lane: the real edge agent on the real device drivers, which
 * run on wire-level virtual hardware (virtual board, MockBinding scanner,
 * ONVIF camera emulator); the agent trusts the reference platform's issuer
 * and the centre's signing key (made here, for the centre to sign with), and the crowd's world (platform,
 * a stranger issuer, a forger) is around it. Used by `npm start` and the
 * end-to-end tests.
 */
import type { Logger } from 'pino';
import { openLaneHardware, type OpenLaneHardware } from '../device/lane-hardware.js';
import { GateAgent } from '../edge-agent/agent.js';
import type { GateConfig } from '../protocol/config/gate-schema.js';
import { TrustStore } from '../protocol/trust/trust-store.js';
import { generateAuthorityKeyPair, loadAuthorityKey, loadAuthorityPrivateKey } from '../protocol/privacy/sealed-record.js';
import type { KeyObject } from 'node:crypto';
import type { Colour } from '../protocol/domain.js';
import { createSignerCertificate, type SignerKeyPair } from '../protocol/trust/signer-certificate.js';
import { createCrowdWorld, type CrowdWorld } from './crowd.js';
import { WireLane } from './hardware/wire-lane.js';

export interface SimulatedLane {
  agent: GateAgent;
  hardware: OpenLaneHardware;
  /** The person's side of the virtual hardware. */
  wire: WireLane;
  world: CrowdWorld;
  /** The key the centre signs the site's messages with; the agent trusts its certificate. */
  centreKey: SignerKeyPair;
  /** The health authority's key pair, made at start: the agent seals to the public half, only tests and the show open with the private one. */
  authority: { publicKey: KeyObject; privateKey: KeyObject };
  /** Stop the agent, the drivers and the virtual devices. */
  close(): Promise<void>;
}

/** @param options.centreKey the centre key the agent trusts (a restarted lane keeps its centre's); default one made here. */
export async function createSimulatedLane(config: GateConfig, logger: Logger, options: { centreKey?: SignerKeyPair } = {}): Promise<SimulatedLane> {
  const world = await createCrowdWorld();
  const trust = new TrustStore();
  trust.add(world.platform.issuer.certificate, 'reference platform');
  const centreKey = options.centreKey ?? (await createSignerCertificate({ subject: 'CN=Health-code centre (demo site), O=Reference platform, C=CN' }));
  const centreKeys = new TrustStore();
  centreKeys.add(centreKey.certificate, 'centre');
  const wire = await WireLane.start();
  const hardware = await openLaneHardware(wire.hardwareConfig(), logger, wire.injection());
  const pair = generateAuthorityKeyPair();
  const authority = { publicKey: loadAuthorityKey(pair.publicKeyPem), privateKey: loadAuthorityPrivateKey(pair.privateKeyPem) };
  // A config naming its own keys keeps them; otherwise the made-up ones are injected.
  const agent = new GateAgent({
    config,
    hardware,
    logger,
    trust,
    centreKeys,
    ...(config.privacy.authorityKey ? {} : { authorityKey: authority.publicKey }),
    ...(config.privacy.idHashKey ? {} : { idHashKey: world.idHashKey }),
  });
  return {
    agent,
    hardware,
    wire,
    world,
    centreKey,
    authority,
    close: async () => {
      await agent.stop();
      await hardware.close();
      await wire.close();
    },
  };
}

/** What takes colour changes for a site: the centre's API (PlatformApi), or a test's double of the centre. */
export interface ColourPusher {
  pushColours(site: string, changes: Array<{ sub: string; colour: Colour; idHash?: string }>): Promise<unknown>;
}

/**
 * The centre pushes colour changes and the test or show waits (bounded)
 * until the gate has verified, stored and applied them.
 */
export async function pushAndWait(
  centre: ColourPusher,
  agent: GateAgent,
  changes: Array<{ sub: string; colour: Colour; idHash?: string }>,
  timeoutMs = 5000,
): Promise<void> {
  await centre.pushColours(agent.settings.site, changes);
  const deadline = Date.now() + timeoutMs;
  const applied = (): boolean => changes.every((c) => agent.colours.get(c.sub)?.colour === c.colour);
  while (!applied()) {
    if (Date.now() > deadline) throw new Error(`the gate did not apply the centre's colour change within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
