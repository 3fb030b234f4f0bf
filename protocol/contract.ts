/**
 * The payload of every MQTT message the agent sends or accepts: the JSON
 * Schemas of payloads/ (the one source: docs/asyncapi.yaml is generated from
 * them by `gate-agent contract`, and a test keeps the two equal) by name,
 * the TypeScript types read from them, and the checks every incoming
 * message passes before anything reads it. Which topic carries which is
 * registry.ts's.
 */
import type { Static } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { HaLastDecision, HaState } from './payloads/home-assistant.js';
import { ColourApplied, CommandResult, DecisionEvent, Fault, LaneStatus, LookupRequest, RedAlert, SecurityEvent, Telemetry } from './payloads/lane-up.js';
import { SealedRegistration } from './payloads/registration.js';
import { MessageError } from './message-error.js';
import { CentreKey, ColourChange, ColourSnapshot, Command, JwsHeader, LookupReply, SignedEnvelope, TrustList } from './payloads/signed.js';

export { COMMAND_ACTIONS, LANE_STATES, MAX_EPOCH_MS, type CommandAction, type LaneState } from './payloads/common.js';
export { SECURITY_KINDS, type SecurityKind } from './payloads/lane-up.js';
export { MAX_COLOUR_CHANGES, SIGNED_TYPES, type ColourStatusEntry, type JwsHeader, type SignedEnvelope, type SignedType } from './payloads/signed.js';

/** Every payload schema by the name the document and the errors use; this order is the document's. */
export const schemas = {
  laneStatus: LaneStatus,
  decisionEvent: DecisionEvent,
  redAlert: RedAlert,
  sealedRegistration: SealedRegistration,
  fault: Fault,
  securityEvent: SecurityEvent,
  telemetry: Telemetry,
  commandResult: CommandResult,
  colourApplied: ColourApplied,
  haState: HaState,
  haLastDecision: HaLastDecision,
  lookupRequest: LookupRequest,
  signedEnvelope: SignedEnvelope,
  jwsHeader: JwsHeader,
  colourChange: ColourChange,
  colourSnapshot: ColourSnapshot,
  command: Command,
  lookupReply: LookupReply,
  centreKey: CentreKey,
  trustList: TrustList,
} as const;

export type SchemaName = keyof typeof schemas;

/** The payload type of each schema, so a validator narrows to it. */
export type ContractTypes = { [N in SchemaName]: Static<(typeof schemas)[N]> };

export type LaneStatusMessage = ContractTypes['laneStatus'];
export type DecisionEventMessage = ContractTypes['decisionEvent'];
export type RedAlertMessage = ContractTypes['redAlert'];
export type SealedRegistrationMessage = ContractTypes['sealedRegistration'];
export type FaultMessage = ContractTypes['fault'];
export type SecurityEventMessage = ContractTypes['securityEvent'];
export type TelemetryMessage = ContractTypes['telemetry'];
export type CommandResultMessage = ContractTypes['commandResult'];
export type ColourAppliedMessage = ContractTypes['colourApplied'];
export type HaStateMessage = ContractTypes['haState'];
export type HaLastDecisionMessage = ContractTypes['haLastDecision'];
export type LookupRequestMessage = ContractTypes['lookupRequest'];
export type ColourChangeMessage = ContractTypes['colourChange'];
export type ColourSnapshotMessage = ContractTypes['colourSnapshot'];
export type CommandMessage = ContractTypes['command'];
export type LookupReplyMessage = ContractTypes['lookupReply'];
export type CentreKeyMessage = ContractTypes['centreKey'];
export type TrustListMessage = ContractTypes['trustList'];

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
const compiled = new Map<SchemaName, ValidateFunction>();

function validator(name: SchemaName): ValidateFunction {
  let fn = compiled.get(name);
  if (!fn) {
    fn = ajv.compile(schemas[name]);
    compiled.set(name, fn);
  }
  return fn;
}

/** True when the value matches the named schema. */
export function conforms<N extends SchemaName>(name: N, value: unknown): value is ContractTypes[N] {
  return validator(name)(value);
}

/** The value as its type, or a MessageError 'contract' (its `schema` the name) naming the first field that is wrong. */
export function check<N extends SchemaName>(name: N, value: unknown): ContractTypes[N] {
  const fn = validator(name);
  if (fn(value)) return value as ContractTypes[N];
  const error = fn.errors?.[0];
  const where = error?.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : '(message)';
  throw new MessageError('contract', `${schemas[name].title}: ${where} ${error?.message ?? 'is not valid'}`, { schema: name });
}
