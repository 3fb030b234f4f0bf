/**
 * The agent's MQTT.js connection options from its mqtt config: identity,
 * session, username and password, and TLS (server always verified, client
 * certificate for mTLS). Files are read here, at start, so a missing or wrong
 * file stops the agent with the config key and the path instead of failing
 * later inside a TLS handshake.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { IClientOptions } from 'mqtt';

import type { MqttConfig } from '../../protocol/config/gate-schema.js';
import { ConfigError } from '../../protocol/config/errors.js';

export type MqttWill = NonNullable<IClientOptions['will']>;

/** MQTT.js passes TLS settings on to tls.connect, passphrase included, though its type omits it. */
export type MqttClientOptions = IClientOptions & { passphrase?: string };

/** Fixed for the agent; tests may spread over the result to shorten them. */
export const CONNECT_TIMEOUT_MS = 10_000;
export const RECONNECT_PERIOD_MS = 1_000;
/**
 * MQTT 5 drops a session at disconnect unless it has an expiry, whatever
 * clean says: a day keeps the gate's subscriptions (and the colour changes
 * queued for them) across a broker or network outage.
 */
export const SESSION_EXPIRY_SECONDS = 86_400;

export function mqttClientOptions(mqtt: MqttConfig, ids: { site: string; lane: string }, will?: MqttWill): MqttClientOptions {
  const options: MqttClientOptions = {
    clientId: mqtt.clientId ?? `gate-${ids.site}-${ids.lane}`,
    protocolVersion: mqtt.protocolVersion,
    clean: false,
    // MQTT 3.1.1 keeps a persistent session until the client cleans it: no expiry to give.
    ...(mqtt.protocolVersion === 5 ? { properties: { sessionExpiryInterval: SESSION_EXPIRY_SECONDS } } : {}),
    reconnectPeriod: RECONNECT_PERIOD_MS,
    // A refusal (bad password, not authorised) may be fixed at the broker while the gate runs unattended: keep trying.
    reconnectOnConnackError: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // QoS 0 is for what is stale once the link is back (telemetry); events go at QoS 1 through the outbox.
    queueQoSZero: false,
  };
  if (will) options.will = will;
  if (mqtt.username !== undefined) options.username = mqtt.username;
  const password = mqtt.passwordFile !== undefined ? readPasswordFile(mqtt.passwordFile) : mqtt.password;
  if (password !== undefined) {
    refuseClearPassword(mqtt.url);
    options.password = password;
  }
  if (mqtt.tls) Object.assign(options, tlsOptions(mqtt));
  return options;
}

function tlsOptions(mqtt: MqttConfig): MqttClientOptions {
  const tls = mqtt.tls!;
  // TLS settings on a plain URL would let the operator believe the link is encrypted.
  if (mqtt.url !== undefined && !/^(mqtts|wss):\/\//.test(mqtt.url)) {
    throw new ConfigError('invalid', `mqtt.url: ${mqtt.url} is not encrypted but mqtt.tls is set; use mqtts:// or wss://`);
  }
  const ca = readText('mqtt.tls.ca', tls.ca);
  requireCertificates('mqtt.tls.ca', tls.ca, ca);
  const options: MqttClientOptions = { ca, rejectUnauthorized: true };
  if (tls.servername !== undefined) options.servername = tls.servername;
  if (tls.cert !== undefined && tls.key !== undefined) {
    const cert = readText('mqtt.tls.cert', tls.cert);
    requireCertificates('mqtt.tls.cert', tls.cert, cert);
    const key = readText('mqtt.tls.key', tls.key);
    let privateKey;
    try {
      privateKey = createPrivateKey({ key, passphrase: tls.keyPassphrase });
    } catch (error) {
      const hint = tls.keyPassphrase === undefined ? '; encrypted keys need mqtt.tls.keyPassphrase' : '; is mqtt.tls.keyPassphrase right?';
      throw new ConfigError('invalid', `mqtt.tls.key: cannot load the private key in ${tls.key} (${(error as Error).message})${hint}`);
    }
    // The first certificate in the file is the client's own; the rest are its chain.
    if (!new X509Certificate(cert).checkPrivateKey(privateKey)) {
      throw new ConfigError('invalid', `mqtt.tls.cert and mqtt.tls.key: the certificate in ${tls.cert} is not for the key in ${tls.key}`);
    }
    options.cert = cert;
    options.key = key;
    if (tls.keyPassphrase !== undefined) options.passphrase = tls.keyPassphrase;
  }
  return options;
}

function readPasswordFile(path: string): string {
  const firstLine = readText('mqtt.passwordFile', path).split(/\r?\n/, 1)[0]!.trim();
  if (firstLine === '') throw new ConfigError('invalid', `mqtt.passwordFile: the first line of ${path} is empty`);
  return firstLine;
}

function readText(key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('invalid', `${key}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function requireCertificates(key: string, path: string, text: string): void {
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError('invalid', `${key}: ${path} holds no PEM certificate`);
  try {
    new X509Certificate(text);
  } catch (error) {
    throw new ConfigError('invalid', `${key}: the certificate in ${path} cannot be read (${(error as Error).message})`);
  }
}

/** A password over a plain connection is readable by anyone on the path: only TLS, or the machine itself. */
function refuseClearPassword(url: string | undefined): void {
  if (url === undefined || /^(mqtts|wss):\/\//.test(url)) return;
  let host = '';
  try {
    host = new URL(url).hostname;
  } catch {
    // the schema's pattern already checked the scheme; an unparsable rest is not loopback
  }
  if (host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.')) return;
  throw new ConfigError('invalid', `mqtt.url: ${url} is not encrypted, and a password would cross the network in clear; use mqtts:// or wss://`);
}
