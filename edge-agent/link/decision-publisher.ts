/**
 * Publishes each journaled decision to the broker (QoS 1) and the lane's
 * retained status with a Last Will. This first cut relies on MQTT.js's
 * in-memory queue while the broker is away; the journal already holds every
 * event, and the durable outbox that replays from it is the MQTT link's job.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { DecisionEvent } from '../domain.js';

export interface DecisionPublisherOptions {
  url: string;
  baseTopic: string;
  site: string;
  lane: string;
  logger: Logger;
}

export function laneTopic(baseTopic: string, site: string, lane: string, leaf: 'decision' | 'status' | 'alert' | 'fault'): string {
  return `${baseTopic}/${site}/${lane}/${leaf}`;
}

export class DecisionPublisher {
  private client: MqttClient | null = null;
  private readonly decisionTopic: string;
  private readonly statusTopic: string;
  private readonly alertTopic: string;
  private readonly faultTopic: string;

  constructor(private readonly options: DecisionPublisherOptions) {
    this.decisionTopic = laneTopic(options.baseTopic, options.site, options.lane, 'decision');
    this.statusTopic = laneTopic(options.baseTopic, options.site, options.lane, 'status');
    this.alertTopic = laneTopic(options.baseTopic, options.site, options.lane, 'alert');
    this.faultTopic = laneTopic(options.baseTopic, options.site, options.lane, 'fault');
  }

  /** Connects in the background: the lane decides whether or not the broker is there. */
  start(): void {
    const { url, site, lane, logger } = this.options;
    const client = mqtt.connect(url, {
      clientId: `gate-${site}-${lane}`,
      clean: false,
      reconnectPeriod: 1000,
      will: { topic: this.statusTopic, payload: Buffer.from(JSON.stringify({ state: 'offline' })), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', () => {
      logger.info({ url }, 'connected to broker');
      client.publish(this.statusTopic, JSON.stringify({ state: 'online', since: new Date().toISOString() }), {
        qos: 1,
        retain: true,
      });
    });
    client.on('error', (error) => logger.warn({ err: error }, 'broker connection error'));
    client.on('offline', () => logger.warn({ url }, 'broker offline; decisions stay in the journal'));
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  publish(event: DecisionEvent): void {
    this.client?.publish(this.decisionTopic, JSON.stringify(event), { qos: 1 }, (error) => {
      if (error) this.options.logger.warn({ err: error, eventId: event.id }, 'decision not acknowledged by broker');
    });
  }

  /**
   * A red code showed up here (rules §4.4): the centre tells the epidemic-control
   * department. Carries only the pseudonymous subject and where and when.
   */
  publishAlert(event: DecisionEvent): void {
    const alert = { eventId: event.id, time: event.time, site: event.site, lane: event.lane, subject: event.subject, colour: event.colour, decidedBy: event.decidedBy };
    this.client?.publish(this.alertTopic, JSON.stringify(alert), { qos: 1 }, (error) => {
      if (error) this.options.logger.error({ err: error, eventId: event.id }, 'red-code alert not acknowledged by broker');
    });
  }

  /** A fault staff must see to (thermometer, journal, driver): the centre watches the fleet's health. */
  publishFault(fault: { kind: string; detail: string }): void {
    const message = { time: new Date().toISOString(), site: this.options.site, lane: this.options.lane, ...fault };
    this.client?.publish(this.faultTopic, JSON.stringify(message), { qos: 1 }, (error) => {
      if (error) this.options.logger.warn({ err: error }, 'fault report not acknowledged by broker');
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    if (client.connected) {
      await client.publishAsync(this.statusTopic, JSON.stringify({ state: 'offline' }), { qos: 1, retain: true }).catch(() => {});
    }
    // Not connected: end at once rather than wait for acks that cannot come (the journal keeps every event).
    await client.endAsync(!client.connected);
  }
}
