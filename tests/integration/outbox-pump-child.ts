/**
 * Child process for the kill -9 test in outbox-broker.test.ts: the agent's
 * sending side alone. Opens the outbox at argv[2], connects to the broker at
 * argv[3] and pumps until the outbox is empty, then prints one JSON line
 * with its counters and exits. Not a *.test.ts file, so `node --test` does
 * not run it by itself.
 */
import mqtt from 'mqtt';
import { pino } from 'pino';
import { Outbox } from '../../edge-agent/link/outbox.js';
import { OutboxPump } from '../../edge-agent/link/outbox-pump.js';

const [, , path, url, inflight] = process.argv;
if (path === undefined || url === undefined) throw new Error('usage: outbox-pump-child <outbox path> <broker url> [inflight]');

const outbox = Outbox.open(path, { maxMessages: 1_000_000, maxAgeDays: 30, warnAtFraction: 0.8 });
const pump = new OutboxPump({ outbox, inflight: Number(inflight ?? 256), logger: pino({ level: 'warn' }, pino.destination(2)) });
const client = mqtt.connect(url, { protocolVersion: 5, clientId: `outbox-child-${process.pid}`, reconnectPeriod: 100, queueQoSZero: false });
client.on('connect', () => pump.online(client));
client.on('close', () => pump.offline());
client.on('error', () => {});

// Bounded, so an orphan whose parent never kills it still ends.
const deadline = setTimeout(() => process.exit(3), 60_000);
while (outbox.depth > 0) {
  await pump.idle();
  if (!pump.isOnline) await new Promise((resolve) => setTimeout(resolve, 20));
}
clearTimeout(deadline);
process.stdout.write(`${JSON.stringify(pump.counters)}\n`);
pump.offline();
await client.endAsync();
outbox.close();
