/**
 * Compile-time checks, never run (not a *.test file): `tsc -p tsconfig.json`,
 * which `npm test` runs first, fails if a line marked @ts-expect-error
 * compiles after all, or a type read from a schema stops matching what its
 * callers were written against. The gate's typed publish takes for each
 * leaf only its schema's payload, and only leaves the gate sends on; so do
 * the parts that publish through it (Home Assistant, the look-up client,
 * the centre port). What the centre signs is signed and opened by leaf, as
 * that leaf's typ and schema.
 */
import type { Static } from '@sinclair/typebox';
import type { CentrePort } from '../../edge-agent/components/centre-port.js';
import type { GateLink } from '../../edge-agent/link/gate-link.js';
import type { HomeAssistantLink } from '../../edge-agent/link/home-assistant.js';
import { laneMessage } from '../../edge-agent/link/lane-publish.js';
import type { LookupClientOptions } from '../../edge-agent/link/lookup-client.js';
import type {
  CommandMessage,
  ContractTypes,
  HaLastDecisionMessage,
  HaStateMessage,
  LaneStatusMessage,
  LookupRequestMessage,
  RedAlertMessage,
  SealedRegistrationMessage,
  TelemetryMessage,
} from '../../protocol/contract.js';
import type { Colour, DecidedBy, Verdict } from '../../protocol/domain.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import type { SealedRecord } from '../../protocol/privacy/sealed-record.js';
import type { SealedRecord as SealedRecordSchema } from '../../protocol/payloads/registration.js';
import { openLeafMessage, signLeafMessage, type MessageSigner, type SignedPayload } from '../../protocol/signed-message.js';
import type { DownLeaf, LaneUpLeaf, PayloadOf, SignedLeaf, SignedSchema, SignedTypOf } from '../../protocol/registry.js';

/** True only when A and B are the same type (not merely assignable either way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function same<A, B>(proof: Equal<A, B>): void {
  void proof;
}

declare const link: GateLink;
declare const telemetry: TelemetryMessage;
declare const command: CommandMessage;
declare const event: DecisionEvent;
declare const ha: HomeAssistantLink;
declare const haState: HaStateMessage;
declare const lastDecision: HaLastDecisionMessage;
declare const publishLookup: LookupClientOptions['publish'];
declare const request: LookupRequestMessage;
declare const port: CentrePort;
declare const signer: MessageSigner;
const at = { base: 'hc/v1', site: 's1', lane: 'l1' };

export function typedPublish(): void {
  link.publish('status', { state: 'online', time: '2025-06-15T08:30:00Z', laneState: 'idle' });
  link.publish('telemetry', telemetry);
  link.publish('lookup/request', { correlationId: 'c0ffee00-0', time: '2025-06-15T08:30:00Z', deadline: 1, site: 's1', lane: 'l1', kind: 'id-hash', key: 'k' }, { expirySeconds: 2 });
  laneMessage(at, 'decision', event);

  // @ts-expect-error a state the schema does not allow
  link.publish('status', { state: 'asleep' });
  // @ts-expect-error a field the schema does not have
  link.publish('status', { state: 'online', mood: 'good' });
  // @ts-expect-error telemetry's payload on the status leaf
  link.publish('status', telemetry);
  // @ts-expect-error a required field missing
  link.publish('fault', { id: 'c0ffee00-0', time: '2025-06-15T08:30:00Z', site: 's1', lane: 'l1', kind: 'thermometer' });
  // @ts-expect-error a field of the wrong type
  laneMessage(at, 'colour/applied', { id: 'c0ffee00-0', site: 's1', lane: 'l1', seq: '4', issuedAt: 1, appliedAt: 2, via: 'change' });
  // @ts-expect-error an alert is always red
  laneMessage(at, 'alert', { id: 'c0ffee00-1', eventId: 'c0ffee00-0', time: '2025-06-15T08:30:00Z', site: 's1', lane: 'l1', subject: null, colour: 'yellow', decidedBy: 'staff' });
  // @ts-expect-error a down leaf: only the centre sends commands
  link.publish('command', command);
  // @ts-expect-error a site leaf the centre sends
  laneMessage(at, 'colour/change', { type: 'colour-change', site: 's1', seq: 1, issuedAt: 1, changes: [] });
  // @ts-expect-error no such leaf
  link.publish('decisions', event);
}

export function homeAssistantAndLookUp(): void {
  ha.publish('ha/state', haState);
  ha.publish('ha/last-decision', lastDecision);
  link.publish('ha/state', haState);
  publishLookup('lookup/request', request);
  port.publish('lookup/request', request, { expirySeconds: 2 });
  // GateLink is a link Home Assistant can use.
  const asHa: HomeAssistantLink = link;
  void asHa;

  // @ts-expect-error the last decision's payload on the state leaf
  ha.publish('ha/state', lastDecision);
  // @ts-expect-error the state's payload on the last-decision leaf
  ha.publish('ha/last-decision', haState);
  // @ts-expect-error a last decision never carries the subject
  ha.publish('ha/last-decision', { ...lastDecision, subject: 'S' });
  // @ts-expect-error a required field of the state missing
  link.publish('ha/state', { time: haState.time, laneState: 'idle' });
  // @ts-expect-error Home Assistant sends on its own leaves only
  ha.publish('decision', event);
  // @ts-expect-error a look-up request without its deadline
  publishLookup('lookup/request', { correlationId: 'c0ffee00-0', time: '2025-06-15T08:30:00Z', site: 's1', lane: 'l1', kind: 'id-hash', key: 'k' });
  // @ts-expect-error a look-up kind the schema does not have
  publishLookup('lookup/request', { ...request, kind: 'face' });
  // @ts-expect-error the look-up client sends on lookup/request only
  publishLookup('telemetry', telemetry);
  // @ts-expect-error the centre port types the payload by leaf too
  port.publish('lookup/request', telemetry);
  // @ts-expect-error a leaf only the centre sends on
  port.publish('lookup/reply', request);
}

export function signedByLeaf(raw: Buffer): void {
  same<SignedLeaf, DownLeaf>(true);
  same<SignedTypOf<'colour/change'>, 'colour-change'>(true);
  same<SignedTypOf<'lookup/reply'>, 'lookup-reply'>(true);
  same<ReturnType<typeof openLeafMessage<'command'>>, CommandMessage>(true);
  same<ReturnType<typeof openLeafMessage<'colour/snapshot'>>, ContractTypes['colourSnapshot']>(true);
  signLeafMessage('command', command, signer);

  // @ts-expect-error a command's payload signed for the colour change leaf
  signLeafMessage('colour/change', command, signer);
  // @ts-expect-error the gate's leaves are not signed
  signLeafMessage('decision', event, signer);
  // @ts-expect-error a typ is no leaf
  openLeafMessage(raw, 'colour-change', null);
}

export function leavesAndPayloads(): void {
  same<LaneUpLeaf, 'status' | 'decision' | 'alert' | 'fault' | 'security' | 'telemetry' | 'command/result' | 'lookup/request' | 'registration' | 'colour/applied' | 'ha/state' | 'ha/last-decision'>(true);
  same<DownLeaf, 'command' | 'lookup/reply' | 'centre/key' | 'centre/trust-list' | 'colour/change' | 'colour/snapshot'>(true);
  same<PayloadOf<'decision'>, DecisionEvent>(true);
  same<PayloadOf<'registration'>, SealedRegistrationMessage>(true);
  same<PayloadOf<'command'>, CommandMessage>(true);
  same<SignedSchema<'lookup-reply'>, 'lookupReply'>(true);
  same<SignedPayload<'colour-snapshot'>, ContractTypes['colourSnapshot']>(true);
  // @ts-expect-error the check itself can fail
  same<PayloadOf<'alert'>, DecisionEvent>(true);
}

/** The types read from the schemas are the ones callers were written against. */
export function typesAsBefore(): void {
  same<LaneStatusMessage, { state: 'online' | 'offline'; time?: string; laneState?: 'idle' | 'reading' | 'measuring' | 'deciding' | 'open' | 'locked' | 'held' | 'staff' | 'emergency'; degraded?: boolean; staffMode?: boolean }>(true);
  same<
    DecisionEvent,
    {
      id: string;
      seq: number;
      time: string;
      site: string;
      lane: string;
      verdict: Verdict;
      reason: string;
      decidedBy: DecidedBy;
      subject: string | null;
      colour: Colour | null;
      temperatureC: number | null;
      sensorFault: string | null;
      credential: { profile: 'gzhc' | 'dcc' | null; kind: 'dynamic' | 'printed' | 'id-card' | null; kid: string | null; iss: string | null; failure: string | null } | null;
      decisionMs: number;
      degraded?: boolean;
    }
  >(true);
  same<RedAlertMessage, { id: string; eventId: string; time: string; site: string; lane: string; subject: string | null; colour: 'red'; decidedBy: DecidedBy }>(true);
  same<SealedRecord, { v: 1; kid: string; eventId: string; site: string; lane: string; time: string; epk: string; salt: string; nonce: string; ct: string; tag: string }>(true);
  same<SealedRecord, Static<typeof SealedRecordSchema>>(true);
  same<keyof SealedRegistrationMessage, keyof SealedRecord | 'id'>(true);
  same<
    CommandMessage,
    { type: 'command'; id: string; site: string; lane: string; issuedAt: number; action: 'open' | 'lock' | 'release-hold' | 'reload-trust' | 'set-config'; key?: string; value?: unknown }
  >(true);
}
