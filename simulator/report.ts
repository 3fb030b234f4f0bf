/** Readable lines for `npm start`: one per person, then a summary. */
import type { Outcome } from './crowd.js';

const VERDICT_LABEL: Record<string, string> = { pass: 'PASS', deny: 'DENY', hold: 'HOLD', emergency: 'OPEN' };

/** Pad by display width: CJK characters take two columns in a terminal. */
function pad(text: string, width: number): string {
  let columns = 0;
  for (const ch of text) columns += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return text + ' '.repeat(Math.max(0, width - columns));
}

export const HEADER = `${pad('#', 4)}${pad('person', 14)}${pad('shows', 34)}${pad('temp', 9)}${pad('verdict', 8)}${pad('reason', 21)}${pad('decided by', 15)}time     rule`;

export function formatOutcome(index: number, outcome: Outcome): string {
  const { person, record } = outcome;
  const temperature = record?.temperature
    ? record.temperature.ok
      ? `${record.temperature.celsius.toFixed(1)}°C`
      : `fault`
    : person.approach.kind === 'fire-alarm'
      ? '-'
      : 'n/a';
  const time = record ? `${record.event.decisionMs.toFixed(2)}ms` : '-';
  const check = outcome.matches ? 'ok' : `MISMATCH (expected ${person.expect.verdict}/${person.expect.reason})`;
  const line =
    pad(String(index), 4) +
    pad(person.label, 14) +
    pad(person.shows, 34) +
    pad(temperature, 9) +
    pad(VERDICT_LABEL[outcome.verdict] ?? outcome.verdict, 8) +
    pad(outcome.reason, 21) +
    pad(record?.decision.decidedBy ?? '-', 15) +
    pad(time, 9) +
    check;
  // Earlier decisions for the same person: the no-code refusal, the thermometer fault.
  const earlier = outcome.decisions
    .slice(0, -1)
    .map((d) => `\n${' '.repeat(18)}first: ${VERDICT_LABEL[d.decision.verdict]} ${d.decision.reason}${d.decision.staffAction ? ` (staff: ${d.decision.staffAction})` : ''}`)
    .join('');
  const advice = record ? `\n${' '.repeat(18)}→ ${record.decision.advice.en} / ${record.decision.advice.zh}` : '';
  const staff = record?.decision.staffAction ? `\n${' '.repeat(18)}staff: ${record.decision.staffAction}` : '';
  return line + earlier + advice + staff;
}

export function formatSummary(
  outcomes: Outcome[],
  delivery: {
    journaled: number;
    /** Decisions in the centre's record (what the gate reported over MQTT). */
    recorded: number;
    made: number;
    /** Alerts the department took from the centre. */
    alerts: number;
    /** Of those, the ones the centre's API shows as delivered. */
    outboxDelivered: number;
    holds: number;
  },
): string {
  const count = (verdict: string): number => outcomes.filter((o) => o.verdict === verdict).length;
  const times = outcomes.flatMap((o) => o.decisions.map((d) => d.event.decisionMs)).sort((a, b) => a - b);
  const median = times.length ? times[Math.floor((times.length - 1) / 2)]! : 0;
  const matched = outcomes.filter((o) => o.matches).length;
  return [
    '',
    `Summary: ${outcomes.length} at the gate: ${count('pass')} passed, ${count('deny')} refused, ${count('hold')} held, ${count('emergency')} fire-alarm openings.`,
    `Decided as the rules say: ${matched} of ${outcomes.length}.`,
    `Decisions: ${delivery.made} made, ${delivery.journaled} in the journal, ${delivery.recorded} in the centre's record over MQTT.`,
    `Red-code alerts: ${delivery.holds} holds, ${delivery.alerts} delivered to the department by the centre (${delivery.outboxDelivered} shown delivered by its API).`,
    `Decision time (code read to verdict): median ${median.toFixed(2)} ms, worst ${(times[times.length - 1] ?? 0).toFixed(2)} ms.`,
  ].join('\n');
}
