/**
 * Alerts to the department through full restarts of the real centre
 * process: the department's webhook (a real HTTPS receiver) down, then
 * answering 500, then slower than department.timeoutMs, while gates send red
 * alerts over a real Mosquitto and the centre is killed with SIGKILL, and
 * once stopped with SIGTERM, between the phases (alerts sent while no centre
 * runs wait in its persistent session at the broker). Once the receiver
 * answers again every alert arrives, each once after dedupe by
 * X-Delivery-Id, with the body the gate sent and a valid signature; the
 * overdue alarm was raised meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { spawnCentre, writeCentreConfig, type CentreProcess } from '../support/centre-spawn.js';
import { cleanupStack } from '../support/cleanups.js';
import { startDepartmentReceiver } from '../support/department-receiver.js';
import { requireMosquitto, startMosquitto } from '../support/mosquitto.js';
import { until } from '../support/wait.js';

const SITE = 'local';

function alert(lane: string): { id: string; body: string } {
  const id = randomUUID();
  return { id, body: JSON.stringify({ id, eventId: randomUUID(), time: new Date().toISOString(), site: SITE, lane, subject: `subj-${id.slice(0, 6)}`, colour: 'red', decidedBy: 'pushed-status' }) };
}

test('alerts reach the department once it answers again, through SIGKILL and SIGTERM restarts of the centre while it is down, failing, and slow', { timeout: 240_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const cleanups = cleanupStack(t);
  const dir = mkdtempSync(join(tmpdir(), 'centre-department-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const broker = await startMosquitto();
  cleanups.push(() => broker.stop());
  const secret = randomBytes(32).toString('hex');
  writeFileSync(join(dir, 'department.secret'), secret, { mode: 0o600 });
  const receiver = await startDepartmentReceiver(Buffer.from(secret, 'utf8'));
  cleanups.push(() => receiver.close());
  writeFileSync(join(dir, 'department-ca.pem'), receiver.caPem);
  await receiver.down();

  const setup = await writeCentreConfig({
    dataDir: dir,
    brokerUrl: broker.url,
    logLevel: 'error',
    department: { url: receiver.url, secretFile: join(dir, 'department.secret'), ca: join(dir, 'department-ca.pem'), timeoutMs: 300, firstRetryMs: 100, maxRetryMs: 800, alarmAfterSeconds: 1 },
  });
  let centre: CentreProcess = await spawnCentre(setup.file);
  cleanups.push(() => centre.kill('SIGKILL'));
  const outputs: string[] = [];
  const restart = async (signal: NodeJS.Signals, between?: () => Promise<void>): Promise<void> => {
    await centre.kill(signal);
    outputs.push(centre.output());
    await between?.();
    centre = await spawnCentre(setup.file);
  };

  const gate = await mqtt.connectAsync(broker.url, { clientId: `gate-${randomUUID().slice(0, 8)}`, protocolVersion: 5 });
  cleanups.push(() => gate.endAsync(true));
  const sent = new Map<string, string>();
  const send = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const a = alert(`l${i % 3}`);
      sent.set(a.id, a.body);
      await gate.publishAsync(`hc/v1/${SITE}/l${i % 3}/alert`, a.body, { qos: 1 });
    }
  };
  const stored = async (): Promise<number> => {
    const answer = await fetch(`${centre.url}/v1/sites/${SITE}/deliveries?limit=500`, { headers: { authorization: `Bearer ${setup.token}` } });
    return answer.ok ? ((await answer.json()) as { deliveries: unknown[] }).deliveries.length : -1;
  };
  const answered = (status: number): number => receiver.requests.filter((r) => r.answered === status).length;

  // Down: the alerts are stored (the PUBACK waits for that) and wait.
  await send(4);
  await until('4 alerts stored', async () => (await stored()) === 4, 20_000);
  // Killed while the department is down; alerts sent while no centre runs wait at the broker.
  await restart('SIGKILL', () => send(3));
  await until('the alerts sent while the centre was away stored', async () => (await stored()) === 7, 20_000);

  // 500: attempts fail; killed mid-retry.
  receiver.mode = 'fail';
  await receiver.up();
  await until('the department answering 500 to some attempts', () => answered(500) >= 5, 30_000);
  await restart('SIGKILL');
  await send(2);
  const fails = answered(500);
  await until('attempts failing after the restart too', () => answered(500) > fails + 3, 30_000);

  // Slow: beyond the timeout, so every attempt is given up on; a stop with SIGTERM, then a start.
  receiver.mode = 'slow';
  receiver.slowMs = 2_000;
  const slowFrom = receiver.requests.length;
  await until('attempts to the slow department', () => receiver.requests.length >= slowFrom + 3, 30_000);
  await restart('SIGTERM');
  assert.equal(receiver.accepted.size, 0, 'nothing accepted while the department was down, failing or slower than the timeout');

  // Back: everything arrives.
  receiver.mode = 'ok';
  await until('every alert accepted by the department', () => receiver.accepted.size === sent.size, 60_000);
  for (const [id, body] of sent) assert.equal(receiver.accepted.get(id)?.toString('utf8'), body, `alert ${id} arrived as the gate sent it`);
  assert.equal(receiver.requests.filter((r) => !r.check.ok).length, 0, 'every request was signed right');
  assert.ok(receiver.requests.every((r) => r.kind === 'alert' && r.id !== undefined && sent.has(r.id)), 'nothing but the alerts sent');
  await until('the centre counting each delivered', async () => {
    const answer = await fetch(`${centre.url}/v1/sites/${SITE}/deliveries?state=delivered&limit=500`, { headers: { authorization: `Bearer ${setup.token}` } });
    return answer.ok && ((await answer.json()) as { deliveries: unknown[] }).deliveries.length === sent.size;
  }, 20_000);
  outputs.push(centre.output());
  assert.match(outputs.join('\n'), /centre alarm/, 'the overdue alarm was raised');
  t.diagnostic(`${sent.size} alerts, ${receiver.requests.length} attempts (${answered(500)} answered 500), accepted ${receiver.accepted.size}`);
});
