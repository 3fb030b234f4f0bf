/**
 * The gate's components under their controller: started in order, stopped
 * newest first, a failed start unwound and named, a stuck stop left behind
 * at the deadline while the rest still stop, and set-config handed to the
 * components that declared the key; the run-time keys are the same on every
 * gate and are those a fully configured gate's components declare.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { GateAgent } from '../../edge-agent/agent.js';
import { CentrePort } from '../../edge-agent/components/centre-port.js';
import { ComponentStartError, startFailureCause, type Component } from '../../edge-agent/components/component.js';
import { RUNTIME_CONFIG_KEYS } from '../../edge-agent/components/config-keys.js';
import { GateController } from '../../edge-agent/components/controller.js';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { createVirtualLaneHardware } from '../../simulator/hardware/virtual-lane.js';
import { ReferencePlatform } from '../../simulator/platform.js';
import { ConfigError } from '../../protocol/config/errors.js';

const logger = pino({ level: 'silent' });

function recorder(): { calls: string[]; part: (name: string, extra?: Partial<Component>) => Component } {
  const calls: string[] = [];
  return {
    calls,
    part: (name, extra = {}) => ({
      name,
      start: () => void calls.push(`start ${name}`),
      stop: () => void calls.push(`stop ${name}`),
      close: () => void calls.push(`close ${name}`),
      ...extra,
    }),
  };
}

test('controller: started in order, stopped newest first, then each closed once', async () => {
  const { calls, part } = recorder();
  const controller = new GateController([part('journal'), part('lane'), part('link')], logger);
  await controller.start();
  await controller.stop();
  await controller.stop();
  assert.deepEqual(calls, ['start journal', 'start lane', 'start link', 'stop link', 'stop lane', 'stop journal', 'close link', 'close lane', 'close journal']);
});

test('controller: a failed start stops what had started, closes all, and names the component; the cause is kept', async () => {
  const { calls, part } = recorder();
  const cause = Object.assign(new Error('listen EADDRINUSE: address already in use'), { code: 'EADDRINUSE' });
  const controller = new GateController(
    [
      part('journal'),
      part('lane'),
      part('screen', {
        start: () => {
          throw cause;
        },
      }),
      part('link'),
    ],
    logger,
  );
  await assert.rejects(controller.start(), (error: unknown) => {
    assert.ok(error instanceof ComponentStartError);
    assert.equal(error.component, 'screen');
    assert.equal(error.message, 'screen: listen EADDRINUSE: address already in use');
    assert.equal(startFailureCause(error), cause);
    return true;
  });
  assert.deepEqual(calls, ['start journal', 'start lane', 'stop lane', 'stop journal', 'close link', 'close screen', 'close lane', 'close journal']);
  await assert.rejects(controller.start(), /stopped/);
});

test('controller: a stop that fails is logged and the rest still stop', async () => {
  const { calls, part } = recorder();
  const controller = new GateController(
    [
      part('lane'),
      part('reader', {
        stop: () => {
          throw new Error('stuck');
        },
      }),
    ],
    logger,
  );
  await controller.start();
  await controller.stop();
  assert.deepEqual(calls, ['start lane', 'start reader', 'stop lane', 'close reader', 'close lane']);
});

test('controller: past the deadline a stuck stop is left behind, the rest stop at once, and the stop resolves when the stuck one does', async () => {
  const { calls, part } = recorder();
  let letReaderGo!: () => void;
  let letLinkGo!: () => void;
  const controller = new GateController(
    [
      part('journal'),
      part('lane'),
      part('reader', { stop: () => new Promise<void>((resolve) => (letReaderGo = resolve)) }),
      part('link', { stop: () => new Promise<void>((resolve) => (calls.push('stop link (stuck)'), (letLinkGo = resolve))) }),
    ],
    logger,
  );
  await controller.start();
  let finished = false;
  const stopping = controller.stop({ deadline: Date.now() + 50 }).then(() => (finished = true));
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.deepEqual(calls.slice(4), ['stop link (stuck)', 'stop lane', 'stop journal', 'close link', 'close reader', 'close lane', 'close journal']);
  assert.equal(finished, false, 'the late ones are still waited for');
  letLinkGo();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(finished, false, 'the reader has not let go yet');
  letReaderGo();
  await stopping;
  assert.equal(finished, true);
});

test('controller: a config change reaches only the components that declared the key', () => {
  const seen: string[] = [];
  const configurable = (name: string, keys: string[]): Component => ({
    name,
    start: () => {},
    stop: () => {},
    configKeys: keys,
    applyConfig: (next: GateConfig) => void seen.push(`${name} ${next.log.level}`),
  });
  const controller = new GateController([configurable('lane', ['policy.feverThresholdC']), configurable('log', ['log.level']), configurable('link', ['mqtt.telemetryIntervalSeconds'])], logger);
  controller.applyConfig('log.level', checkConfig({ site: 's', lane: 'l', log: { level: 'debug' } }));
  assert.deepEqual(seen, ['log debug']);
  assert.deepEqual(controller.configKeys, ['policy.feverThresholdC', 'log.level', 'mqtt.telemetryIntervalSeconds']);
  assert.throws(() => new GateController([configurable('lane', []), configurable('lane', [])], logger), /two components named "lane"/);
});

async function gate(t: TestContext, extra: Record<string, unknown>, centreKeys?: TrustStore): Promise<GateAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'gate-controller-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const platform = await ReferencePlatform.create();
  const trust = new TrustStore();
  trust.add(platform.issuer.certificate, 'reference platform');
  const config = checkConfig({ site: 'site-1', lane: 'lane-1', journal: { path: join(dir, 'journal.db') }, voice: { enabled: false }, log: { level: 'silent' }, ...extra });
  const agent = new GateAgent({ config, hardware: createVirtualLaneHardware(), logger: pino({ level: 'silent' }), trust, ...(centreKeys ? { centreKeys } : {}) });
  t.after(() => agent.stop());
  return agent;
}

test('a fully configured gate: its components in start order, declaring exactly the run-time config keys', async (t) => {
  const centre = await createSignerCertificate({ subject: 'CN=Centre' });
  const centreKeys = new TrustStore();
  centreKeys.add(centre.certificate, 'centre');
  const agent = await gate(
    t,
    {
      mqtt: { url: 'mqtt://127.0.0.1:1', homeAssistant: { enabled: true } },
      screen: { host: '127.0.0.1', port: 0 },
      metrics: { enabled: true, host: '127.0.0.1', port: 0 },
    },
    centreKeys,
  );
  assert.deepEqual(agent.controller.names, [
    'journal',
    'colour sync',
    'outbox',
    'log',
    'metrics',
    'lane',
    'code reader',
    'voice prompts',
    'screen',
    'retention',
    'outbox pump',
    'broker link',
    'Home Assistant discovery',
  ]);
  assert.deepEqual(agent.controller.configKeys.sort(), [...RUNTIME_CONFIG_KEYS].sort());
});

test('an unlinked gate takes the same run-time keys: a link setting is kept for when it has a link', async (t) => {
  const agent = await gate(t, {});
  assert.ok(!agent.controller.names.includes('broker link'));
  assert.equal(agent.changeConfig('mqtt.telemetryIntervalSeconds', 10), 'mqtt.telemetryIntervalSeconds = 10');
  assert.equal(agent.settings.mqtt.telemetryIntervalSeconds, 10);
  assert.throws(() => agent.changeConfig('mqtt.url', 'mqtt://x'), (error: unknown) => error instanceof ConfigError && /"mqtt\.url" cannot change at run time/.test(error.message));
});

test('a gate whose metrics port is taken: the start fails naming the metrics, and the journal is closed', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const { port } = taken.address() as AddressInfo;
  const agent = await gate(t, { metrics: { enabled: true, host: '127.0.0.1', port } });
  await assert.rejects(agent.start(), (error: unknown) => {
    assert.ok(error instanceof ComponentStartError);
    assert.equal(error.component, 'metrics');
    assert.match(error.message, /^metrics: .*EADDRINUSE/);
    return true;
  });
  assert.equal(agent.journal.database.open, false);
});

test('centre port: unconnected, nothing is sent and a look-up is not published; connected, each call reaches the link; once only', () => {
  const port = new CentrePort();
  const request = { correlationId: 'c0ffee00-0', time: '2025-06-15T08:30:00Z', deadline: 1, site: 's1', lane: 'l1', kind: 'id-hash' as const, key: 'k' };
  assert.equal(port.publish('lookup/request', request), false);
  port.reportFault({ kind: 'outbox-filling', detail: 'x' });
  const sent: string[] = [];
  const link = {
    publish: (leaf: string, _payload: unknown, options?: { expirySeconds?: number }) => (sent.push(`publish ${leaf} ${options?.expirySeconds}`), true),
    enqueueRegistration: () => void sent.push('registration'),
    reportFault: (fault: { kind: string }, options?: { queue?: boolean }) => void sent.push(`fault ${fault.kind} ${options?.queue}`),
  };
  port.connect(link);
  assert.equal(port.publish('lookup/request', request, { expirySeconds: 3 }), true);
  port.enqueueRegistration({} as Parameters<CentrePort['enqueueRegistration']>[0]);
  port.reportFault({ kind: 'outbox-dropped', detail: 'y' }, { queue: false });
  assert.deepEqual(sent, ['publish lookup/request 3', 'registration', 'fault outbox-dropped false']);
  assert.throws(() => port.connect(link), /already connected/);
});
