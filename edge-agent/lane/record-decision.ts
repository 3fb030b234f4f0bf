/**
 * A turn's decision into the journal, with what must be kept in the same
 * transaction: a staff registration's sealed details, a red-code hold. Either
 * all of it is on the disk or none: a crash between them never loses a hold.
 */
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import { buildDecisionEvent } from './decision-event.js';
import type { LaneDependencies } from './lane-types.js';
import type { DecidedTurn, Turn } from './turn.js';

/** The journaled event; throws when the journal could not take it (the decision is then not made). */
export function journalDecision(
  deps: Pick<LaneDependencies, 'site' | 'lane' | 'journal' | 'registrar' | 'holds'>,
  turn: Turn,
  decided: DecidedTurn,
  wallStart: number,
): DecisionEvent {
  const { site, lane, registrar } = deps;
  const { decision, credential, temperature, input, decisionMs, degraded } = decided;
  const draft = buildDecisionEvent({ site, lane, decision, credential, temperature, input, wallStart, decisionMs, degraded });
  // Sealed before the transaction: the details never reach the disk in clear.
  const sealed =
    turn.kind === 'staff-registered' && turn.details && registrar
      ? registrar.seal({ ...turn.details, temperatureC: draft.temperatureC, time: draft.time, site: draft.site, lane: draft.lane, eventId: draft.id })
      : null;
  const holds = decision.verdict === 'hold' ? deps.holds : undefined;
  const within =
    (sealed && registrar) || holds
      ? (stored: DecisionEvent): void => {
          if (sealed && registrar) registrar.keep(sealed, stored);
          holds?.hold(lane, stored.id, wallStart);
        }
      : undefined;
  return deps.journal.append(draft, within);
}
