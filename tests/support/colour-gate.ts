/**
 * The colour side of a gate for the centre's tests: its own MQTT connection
 * to the broker, the gate's real ColourSync and ColourStatusStore
 * (edge-agent/colour/), and what the gate's link does with them: every
 * message on the site's colour/change and colour/snapshot handed to the sync,
 * and a resync asked for read again from the retained snapshot. What the
 * sync refused is kept, with its kind, for the tests to assert on.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { ColourSync, type AppliedInfo } from '../../edge-agent/colour/colour-sync.js';
import { ColourStatusStore } from '../../edge-agent/colour/status-store.js';
import { MessageError } from '../../protocol/message-error.js';
import { siteTopic } from '../../protocol/topics.js';
import type { TrustStore } from '../../protocol/trust/trust-store.js';

export interface ColourGate {
  sync: ColourSync;
  store: ColourStatusStore;
  client: MqttClient;
  applied: AppliedInfo[];
  /** Change seqs applied, in the order applied. */
  changeSeqs: number[];
  heartbeats: number;
  duplicates: number;
  refused: Array<{ kind: string; message: string }>;
  /** The pushed colour the gate holds for a subject. */
  colourOf(subject: string): string | undefined;
  stop(): Promise<void>;
}

export async function startColourGate(options: { url: string; base: string; site: string; keys: TrustStore; maxSyncAgeSeconds?: number; protocolVersion?: 4 | 5 }): Promise<ColourGate> {
  const store = new ColourStatusStore();
  const sync = new ColourSync({
    store,
    keys: options.keys,
    site: options.site,
    config: { maxSyncAgeSeconds: options.maxSyncAgeSeconds ?? 300, whenDegraded: 'staff' },
    logger: pino({ level: 'silent' }),
    checkIntervalMs: 50,
  });
  const changeTopic = siteTopic(options.base, options.site, 'colour/change');
  const snapshotTopic = siteTopic(options.base, options.site, 'colour/snapshot');
  const client = await mqtt.connectAsync(options.url, { clientId: `gate-${randomUUID().slice(0, 8)}`, protocolVersion: options.protocolVersion ?? 5, reconnectPeriod: 100 });
  const gate: ColourGate = {
    sync,
    store,
    client,
    applied: [],
    changeSeqs: [],
    heartbeats: 0,
    duplicates: 0,
    refused: [],
    colourOf: (subject) => store.get(subject)?.colour,
    stop: async () => {
      sync.stop();
      await client.endAsync(true);
      store.close();
    },
  };
  sync.on('applied', (info) => gate.applied.push(info));
  // The link's answer to a gap: read the retained snapshot again.
  sync.on('resync', () => {
    if (!client.connected) return;
    void client.unsubscribeAsync(snapshotTopic).then(() => client.subscribeAsync(snapshotTopic, { qos: 1 })).catch(() => undefined);
  });
  client.on('message', (topic, payload) => {
    try {
      if (topic === changeTopic) {
        const outcome = sync.acceptChange(payload);
        if (outcome.kind === 'applied') gate.changeSeqs.push(outcome.seq);
        if (outcome.kind === 'heartbeat') gate.heartbeats++;
        if (outcome.kind === 'duplicate') gate.duplicates++;
      } else if (topic === snapshotTopic) {
        sync.acceptSnapshot(payload);
      }
    } catch (error) {
      if (!(error instanceof MessageError)) throw error;
      gate.refused.push({ kind: error.code, message: error.message });
    }
  });
  await client.subscribeAsync([changeTopic, snapshotTopic], { qos: 1 });
  return gate;
}
