/**
 * Key rollover, epochs and the pushed trust list end to end (docs/keys.md):
 * the centre's KeyRing and trust list push on one MQTT connection, a real
 * Mosquitto, and a real gate agent (real drivers on wire-level virtual
 * hardware) that knows only the first centre key. The next key is announced
 * retained, the switch happens on the ring's own timer, colour changes
 * signed by the new key are applied, and after the overlap a change signed
 * by the old key is refused as unknown-key on the security topic, also after
 * the gate restarts. A raised epoch is taken; a newer trust list is applied
 * without a restart, an older one refused.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { epochStartMessages } from '../../centre/keys/epoch.js';
import { readSigningKey, writeSigningKey, type SigningKey } from '../../centre/keys/key-files.js';
import { KeyRing } from '../../centre/keys/key-ring.js';
import { publishTrustList } from '../../centre/keys/trust-list-push.js';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { ColourChangeMessage, SecurityEventMessage } from '../../protocol/contract.js';
import { publishOptions } from '../../protocol/registry.js';
import { messageSigner, signJws, signLeafMessage, type MessageSigner } from '../../protocol/signed-message.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { siteTopic } from '../../protocol/topics.js';
import { createSimulatedLane, type SimulatedLane } from '../../simulator/simulated-lane.js';
import { cleanupStack } from '../support/cleanups.js';
import { requireMosquitto, startMosquitto } from '../support/mosquitto.js';
import { until } from '../support/wait.js';

const BASE = 'hc/v1';
const SITE = 'roll-s1';
const LANE = 'l1';
/** How long the old key stays trusted after the switch here: long enough to see both keys work, short enough to wait out. */
const OVERLAP_MS = 3_000;

async function changeSigned(centre: MqttClient, signer: MessageSigner, payload: ColourChangeMessage): Promise<void> {
  await centre.publishAsync(siteTopic(BASE, SITE, 'colour/change'), JSON.stringify(signLeafMessage('colour/change', payload, signer)), publishOptions('colour/change'));
}

/** A list as export-trust signs it, with the key the site folder holds. */
function trustList(version: number, by: SigningKey, certificates: string[]): Buffer {
  return Buffer.from(JSON.stringify(signJws('trust-list', { type: 'trust-list', site: SITE, version, issuedAt: Date.now(), certificates }, messageSigner(by))));
}

test('the centre announces its next key, switches, and the gates refuse the old key after the overlap; epochs and trust lists follow', async (t: TestContext) => {
  if (!requireMosquitto(t)) return;
  const cleanups = cleanupStack(t);
  const broker = await startMosquitto({});
  cleanups.push(() => broker.stop());
  const dir = mkdtempSync(join(tmpdir(), 'centre-continuity-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const logger = pino({ level: 'silent' });

  const config = checkConfig({
    site: SITE,
    lane: LANE,
    journal: { path: join(dir, 'journal.db') },
    credentials: { trust: join(dir, 'issuers.pem') },
    mqtt: { url: broker.url, telemetryIntervalSeconds: 60 },
    log: { level: 'silent' },
  });
  // The site's first centre key: the gate is given its certificate (mqtt.centreKeys), the centre its files.
  const first = await createSignerCertificate({ subject: 'CN=Continuity centre, O=Test, C=CN' });
  let gate: SimulatedLane = await createSimulatedLane(config, logger, { centreKey: first });
  cleanups.push(() => gate.close());
  writeFileSync(join(dir, 'issuers.pem'), gate.world.platform.issuer.certificatePem);
  const files = { key: join(dir, 'centre.key'), certificate: join(dir, 'centre.pem') };
  writeSigningKey(files, first);
  const ring = new KeyRing({ site: SITE, files, logger });
  cleanups.push(() => ring.stop());
  ring.start();
  const centre = await mqtt.connectAsync(broker.url, { clientId: 'centre', reconnectPeriod: 0 });
  cleanups.push(() => centre.endAsync(true));

  const security: SecurityEventMessage[] = [];
  const watchSecurity = (lane: SimulatedLane) => lane.agent.link!.on('security', (event) => security.push(event));
  watchSecurity(gate);
  await gate.agent.start();
  await until('the gate to connect', () => gate.agent.brokerConnected, 10_000);

  let seq = 0;
  const change = (sub: string, colour: 'green' | 'red', extra: Partial<ColourChangeMessage> = {}): ColourChangeMessage => ({
    type: 'colour-change',
    site: SITE,
    seq: ++seq,
    issuedAt: Date.now(),
    changes: [{ sub, colour, effectiveAt: Date.now() }],
    ...extra,
  });
  await changeSigned(centre, ring.signer, change('alice', 'red'));
  await until('the first key signs as before', () => gate.agent.colours.get('alice')?.colour === 'red');

  // The rollover: the next key from in a second, the first one until OVERLAP_MS after that.
  const switched = new Promise<void>((resolve) => ring.once('switched', () => resolve()));
  const activeFrom = Date.now() + 1_000;
  await ring.prepareNext({ activeFrom, previousUntil: activeFrom + OVERLAP_MS });
  assert.equal(await ring.publish(centre, BASE), true);
  const nextKid = ring.status().next!.kid;
  await until('the gate to keep the announced key', () => gate.agent.journal.database.prepare('SELECT count(*) FROM centre_keys').pluck().get() === 2);
  await switched;
  assert.equal(ring.signer.kid.toString('base64url'), nextKid, 'the next key signs after activeFrom');

  await changeSigned(centre, ring.signer, change('bob', 'red'));
  await until('a change the new key signed to be applied', () => gate.agent.colours.get('bob')?.colour === 'red');
  const old = messageSigner(first);
  await changeSigned(centre, old, change('carol', 'red'));
  await until('a change the old key signed, within the overlap, to be applied', () => gate.agent.colours.get('carol')?.colour === 'red');

  await until('the overlap to end', () => Date.now() > activeFrom + OVERLAP_MS + 50, OVERLAP_MS + 5_000);
  const refusedBefore = security.length;
  await changeSigned(centre, old, change('dave', 'red'));
  await until('the old key to be refused on the security topic', () => security.slice(refusedBefore).some((e) => e.kind === 'unknown-key' && e.topic.endsWith('/colour/change')));
  assert.equal(gate.agent.colours.get('dave'), null, 'nothing the old key signed is applied');
  seq--; // dave's seq was never taken

  // A restart: the gate is still given only the first key, and its database says it retired.
  await gate.close();
  gate = await createSimulatedLane(config, logger, { centreKey: first }); // the cleanup above closes whichever gate runs
  watchSecurity(gate);
  await gate.agent.start();
  await until('the restarted gate to connect', () => gate.agent.brokerConnected, 10_000);
  const afterRestart = security.length;
  await changeSigned(centre, old, change('erin', 'red'));
  await until('the old key refused after the restart', () => security.slice(afterRestart).some((e) => e.kind === 'unknown-key'));
  seq--;
  await changeSigned(centre, ring.signer, change('frank', 'green'));
  await until('the new key still trusted after the restart', () => gate.agent.colours.get('frank')?.colour === 'green');
  assert.equal(gate.agent.colours.get('erin'), null);

  // An epoch raised (a centre restored from a backup): its first seq is 1 again, and the gate follows.
  const { snapshot, change: start } = epochStartMessages({ site: SITE, epoch: 1, seq: 1, issuedAt: Date.now(), statuses: [{ sub: 'alice', colour: 'green', effectiveAt: Date.now() }] });
  await centre.publishAsync(siteTopic(BASE, SITE, 'colour/snapshot'), JSON.stringify(signLeafMessage('colour/snapshot', snapshot, ring.signer)), publishOptions('colour/snapshot'));
  await centre.publishAsync(siteTopic(BASE, SITE, 'colour/change'), JSON.stringify(signLeafMessage('colour/change', start, ring.signer)), publishOptions('colour/change'));
  await until('the gate to enter epoch 1 from the snapshot', () => gate.agent.colourSync.epoch === 1 && gate.agent.colourSync.lastSeq === 1 && !gate.agent.colourSync.resyncPending);
  assert.equal(gate.agent.colours.get('alice')?.colour, 'green');
  assert.equal(gate.agent.colours.get('bob'), null, 'the new epoch snapshot withdrew what it does not list');
  const beforeOld = security.length;
  await changeSigned(centre, ring.signer, change('zoe', 'red'));
  await until('a change of the old epoch refused as replayed', () => security.slice(beforeOld).some((e) => e.kind === 'replayed' && /epoch/.test(e.detail)));
  await changeSigned(centre, ring.signer, { type: 'colour-change', site: SITE, epoch: 1, seq: 2, issuedAt: Date.now(), changes: [{ sub: 'zoe', colour: 'red', effectiveAt: Date.now() }] });
  await until('the epoch 1 seq 2 change applied', () => gate.agent.colours.get('zoe')?.colour === 'red');

  // The trust list: a newer one, signed by the key in force now, is applied without a restart; an older one refused.
  const { issuer } = gate.world.platform;
  const stranger = gate.world.stranger.issuer;
  const source = { site: SITE, certificatePem: ring.certificatePem };
  const inForce = readSigningKey(files); // the site folder's centre.key: the next key since the switch
  await publishTrustList(centre, BASE, source, trustList(5, inForce, [issuer.certificatePem, stranger.certificatePem]));
  await until('the pushed list in force', () => gate.agent.issuerTrust?.version === 5 && gate.agent.verifier.trust.size === 2);
  const beforeOlder = security.length;
  await centre.publishAsync(siteTopic(BASE, SITE, 'centre/trust-list'), trustList(4, inForce, [issuer.certificatePem]), publishOptions('centre/trust-list'));
  await until('an older list refused as replayed', () => security.slice(beforeOlder).some((e) => e.kind === 'replayed' && e.topic.endsWith('/centre/trust-list')));
  assert.equal(gate.agent.issuerTrust?.version, 5);
  assert.equal(gate.agent.verifier.trust.size, 2);
});

