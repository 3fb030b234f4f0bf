/**
 * For a fleet console: sign a command with an operator key that
 * the centre's signed trust list delegates (gate-provision operator add), so
 * the console acts without the centre's master key. The message is the same
 * JWS a centre command is (signed-message.ts, flattened JSON serialization,
 * typ "command", kid from the operator's certificate); the gate takes it for
 * the operator's actions only (open, lock, release-hold), within the
 * operator's validity, and names the operator in the result's signedBy.
 *
 *   const key = loadOperatorKey('site-mall-1/operators/duty-desk');       // operator.key + operator.pem
 *   const { command, text } = signOperatorCommand({ site: 'mall-1', lane: 'east-1', action: 'open' }, key);
 *   client.publish(laneTopic('hc/v1', 'mall-1', 'east-1', 'command'), text, { qos: 1 });
 *   // then wait on hc/v1/mall-1/east-1/command/result for { commandId: command.id, signedBy: 'duty-desk', ok, detail }
 */
import { createPrivateKey, randomUUID, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AlgorithmName } from './credential/cose.js';
import { OPERATOR_ACTIONS, type OperatorAction } from './trust/operators.js';
import type { CommandMessage, SignedEnvelope } from './contract.js';
import { messageSigner, signLeafMessage } from './signed-message.js';

export interface OperatorKey {
  /** ES256 for keys gate-provision makes; EdDSA is accepted too. */
  algorithm: AlgorithmName;
  certificate: X509Certificate;
  privateKey: KeyObject;
}

export interface OperatorCommandRequest {
  site: string;
  lane: string;
  action: OperatorAction;
  /** Default a random UUID: the gate runs each id once. */
  id?: string;
  /** Epoch ms; default now. The gate refuses one outside mqtt.commandMaxAgeSeconds (120 s by default). */
  issuedAt?: number;
}

export interface SignedOperatorCommand {
  /** What was signed: its id is the commandId of the result. */
  command: CommandMessage;
  envelope: SignedEnvelope;
  /** The envelope as the MQTT payload. */
  text: string;
}

/**
 * An operator key from its folder (operators/<name>/ of the site, with
 * operator.key and operator.pem) or from the two files; `passphrase` when
 * the site's keys are encrypted. Throws when the key is not the certificate's.
 */
export function loadOperatorKey(source: string | { keyFile: string; certFile: string }, passphrase?: string): OperatorKey {
  const { keyFile, certFile } = typeof source === 'string' ? { keyFile: join(source, 'operator.key'), certFile: join(source, 'operator.pem') } : source;
  const certificate = new X509Certificate(readFileSync(certFile));
  const privateKey = createPrivateKey({ key: readFileSync(keyFile), ...(passphrase === undefined ? {} : { passphrase }) });
  if (!certificate.checkPrivateKey(privateKey)) throw new Error(`${keyFile} is not the key of ${certFile}`);
  const type = privateKey.asymmetricKeyType;
  const algorithm: AlgorithmName | null = type === 'ec' ? 'ES256' : type === 'ed25519' ? 'EdDSA' : null;
  if (!algorithm) throw new Error(`${keyFile}: a ${type} key; operator keys are EC P-256 (ES256) or Ed25519`);
  return { algorithm, certificate, privateKey };
}

/** A command for one lane, signed with an operator key. Throws for an action no operator may send. */
export function signOperatorCommand(request: OperatorCommandRequest, key: OperatorKey): SignedOperatorCommand {
  if (!(OPERATOR_ACTIONS as readonly string[]).includes(request.action)) {
    throw new Error(`${request.action}: operators may send ${OPERATOR_ACTIONS.join(', ')} only`);
  }
  const command: CommandMessage = {
    type: 'command',
    id: request.id ?? randomUUID(),
    site: request.site,
    lane: request.lane,
    issuedAt: request.issuedAt ?? Date.now(),
    action: request.action,
  };
  const envelope = signLeafMessage('command', command, messageSigner(key));
  return { command, envelope, text: JSON.stringify(envelope) };
}
