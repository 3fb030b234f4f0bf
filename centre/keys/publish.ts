/**
 * Publishing a signed site message retained, for the key ring, the trust
 * list push and an epoch's first messages: QoS and retain from the topic
 * table, resolved once the broker took it (PUBACK). The MQTT client is the
 * caller's (the centre's one connection); MQTT.js's MqttClient fits.
 */
import type { SignedEnvelope } from '../../protocol/contract.js';
import { publishOptions, type SiteDownLeaf } from '../../protocol/registry.js';
import { siteTopic } from '../../protocol/topics.js';

/** What of an MQTT client the keys need. */
export interface RetainedPublisher {
  publishAsync(topic: string, message: string | Buffer, options: { qos: 0 | 1; retain: boolean }): Promise<unknown>;
}

export async function publishSigned(client: RetainedPublisher, baseTopic: string, site: string, leaf: SiteDownLeaf, envelope: SignedEnvelope | string): Promise<void> {
  const body = typeof envelope === 'string' ? envelope : JSON.stringify(envelope);
  await client.publishAsync(siteTopic(baseTopic, site, leaf), body, publishOptions(leaf));
}
