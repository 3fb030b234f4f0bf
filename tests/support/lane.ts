/** A person at a simulated lane, for integration tests: bounded waits that name the lane's state when they give up. */
import type { DecisionRecord, Lane } from '../../edge-agent/lane/lane.js';
import type { SimulatedLane } from '../../simulator/simulated-lane.js';
import { until } from './wait.js';

/** The lane free for the next person: a code read while it is still busy (the beam's debounce after a pass, say) is ignored. */
export function untilIdle(lane: Lane, timeoutMs = 10_000): Promise<void> {
  return until(`the lane to be idle (it is ${lane.state})`, () => lane.state === 'idle', timeoutMs);
}

/** Waits for the lane to be idle, holds `code` to the scanner at `celsius`, and resolves with the lane's decision. */
export async function decideAtScanner(simulated: Pick<SimulatedLane, 'agent' | 'wire'>, code: string, celsius = 36.5, timeoutMs = 10_000): Promise<DecisionRecord> {
  const { lane } = simulated.agent;
  await untilIdle(lane, timeoutMs);
  simulated.wire.setForehead({ ok: true, celsius });
  let timer: NodeJS.Timeout | undefined;
  let listener: ((record: DecisionRecord) => void) | undefined;
  const decided = new Promise<DecisionRecord>((resolve) => {
    listener = resolve;
    lane.once('decision', listener);
  });
  const gaveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no decision within ${timeoutMs} ms of the code (the lane is ${lane.state})`)), timeoutMs);
  });
  simulated.wire.presentCode(code, 'scanner');
  try {
    return await Promise.race([decided, gaveUp]);
  } finally {
    clearTimeout(timer);
    if (listener) lane.off('decision', listener);
    simulated.wire.withdrawCode();
  }
}
