/**
 * The fleet console with a real edge agent (simulated hardware, real link)
 * and the simulated centre on a real Mosquitto: what the gate really sends
 * passes the console's checks; a red code holds the lane and raises an
 * alert; the operator's signed release-hold reaches the gate, which answers;
 * a pushed colour change is timed from the centre's issue to the lane's
 * applied report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { DecisionRecord } from '../../edge-agent/lane/lane.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { createSimulatedLane, pushAndWait } from '../../simulator/simulated-lane.js';
import { checkConsoleConfig } from '../../protocol/config/console-config.js';
import { OperatorCommandSigner } from '../../console/command-signer.js';
import { startConsole } from '../../console/console.js';
import { requireMosquitto, startMosquitto } from '../support/mosquitto.js';
import { cleanupStack } from '../support/cleanups.js';
import { decideAtScanner } from '../support/lane.js';
import { requirePostgres, scratchDatabase } from '../support/postgres.js';
import { until } from '../support/wait.js';

const SITE = 'plaza';
const LANE = 'north-1';

for (const storeKind of ['sqlite', 'postgres'] as const) {
  test(`a real gate seen through the console (${storeKind} store): state, decisions, alert, command, colour timeliness`, { timeout: 90_000 }, async (t) => {
    if (!requireMosquitto(t)) return;
    if (storeKind === 'postgres' && !(await requirePostgres(t))) return;
    const cleanups = cleanupStack(t);
    let storeConfig: { sqlite: { path: string } } | { postgres: { url: string } };
    const broker = await startMosquitto();
    cleanups.push(() => broker.stop());
    const dir = mkdtempSync(join(tmpdir(), 'console-agent-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    if (storeKind === 'postgres') {
      const database = await scratchDatabase();
      cleanups.push(() => database.drop());
      storeConfig = { postgres: { url: database.url } };
    } else {
      storeConfig = { sqlite: { path: join(dir, 'console.db') } };
    }

    const gateConfig = checkConfig({
      site: SITE,
      lane: LANE,
      timing: { relayPulseMs: 100, passageTimeoutMs: 1000, denyDisplayMs: 30, temperatureDeadlineMs: 300, repeatSuppressMs: 1000 },
      journal: { path: join(dir, 'journal.db') },
      credentials: { trust: join(dir, 'issuers.pem') },
      mqtt: { url: broker.url, telemetryIntervalSeconds: 1 },
      log: { level: 'silent' },
    });
    const simulated = await createSimulatedLane(gateConfig, pino({ level: 'silent' }));
    cleanups.push(() => simulated.close());
    writeFileSync(join(dir, 'issuers.pem'), simulated.world.platform.issuer.certificatePem);
    writeFileSync(join(dir, 'centre.pem'), simulated.centreKey.certificatePem);
    const centre = await SimulatedCentre.start({ url: broker.url, key: simulated.centreKey, clientOptions: { reconnectPeriod: 0 } });
    cleanups.push(() => centre.stop());
    await centre.publishSnapshot(SITE);

    const consoleConfig = checkConsoleConfig({
      broker: { url: broker.url },
      http: { port: 0 },
      store: storeConfig,
      centreCertificate: join(dir, 'centre.pem'),
    });
    // This gate trusts the centre's key directly (no signed trust list, so no operators): the console signs with it.
    // Operator keys delegated by a signed trust list: tests/integration/operator-console.test.ts.
    const { algorithm, certificate, privateKey } = simulated.centreKey;
    const signer = new OperatorCommandSigner({ algorithm, certificate, privateKey });
    const running = await startConsole(consoleConfig, pino({ level: 'silent' }), { signer });
    cleanups.push(() => running.stop());
    const { store, feed } = running;

    const { agent, wire, world } = { agent: simulated.agent, wire: simulated.wire, world: simulated.world };
    await agent.start();
    await wire.scannerOpened();
    await until('the lane online in the console', async () => (await store.lane(SITE, LANE))?.online === true, 10_000);

    const decide = (code: string): Promise<DecisionRecord> => decideAtScanner(simulated, code);

    // A green code passes.
    const green = await decide(world.platform.issue({ colour: 'green', maskedName: '张*三' }).code);
    await wire.walkThrough();
    await until('the pass in the console', async () => (await store.decisions()).some((d) => d.id === green.event.id));

    // A red code holds the lane and raises an alert.
    const red = await decide(world.platform.issue({ colour: 'red', maskedName: '赵*六' }).code);
    assert.equal(red.decision.verdict, 'hold');
    await until('held in the console', async () => (await store.lane(SITE, LANE))?.state === 'held', 5_000);
    await until('the alert', async () => (await store.alerts()).some((a) => a.eventId === red.event.id));

    // The operator releases the hold: signed, sent, answered by the gate.
    const sent = await running.commands.send(SITE, LANE, 'release-hold', 'alice');
    await until('the command result', async () => (await store.command(sent.id))?.result !== 'pending', 5_000);
    const settled = (await store.command(sent.id))!;
    assert.equal(settled.result, 'ok', settled.detail ?? '');
    await until('no longer held', async () => (await store.lane(SITE, LANE))?.held === false, 5_000);

    // A colour change, timed from the centre to the lane.
    const turned = world.platform.issue({ colour: 'green', maskedName: '冯*二' });
    await pushAndWait(centre, agent, [{ sub: turned.sub, colour: 'red' }]);
    const day = store.day(Date.now());
    await until('the change applied in the figures', async () => (await store.figures(SITE, day)).colourChanges.applied >= 1, 10_000);
    const figures = await store.figures(SITE, day);
    assert.equal(figures.checks, 2);
    assert.equal(figures.passes, 1);
    assert.equal(figures.holds, 1);
    assert.equal(figures.redAlerts, 1);
    assert.equal(figures.colourChanges.changes, 1);
    assert.ok(figures.colourChanges.medianMs !== null && figures.colourChanges.medianMs < 5_000);
    assert.deepEqual(figures.colourChanges.neverApplied, []);
    assert.equal(feed.stats.malformed, 0, `what the real gate sent was refused: ${JSON.stringify(feed.stats.malformedByLeaf)}`);

    // The gate stops: the console sees it go offline.
    await agent.stop();
    await until('offline', async () => (await store.lane(SITE, LANE))?.online === false, 10_000);
  });
}
