/**
 * When a failed delivery is tried again: exponential from firstRetryMs,
 * capped at maxRetryMs, with jitter so that many deliveries failing together
 * (the department away) do not all come back in the same instant.
 */
export function retryDelayMs(failures: number, firstRetryMs: number, maxRetryMs: number, random: () => number = Math.random): number {
  const cap = Math.max(firstRetryMs, maxRetryMs);
  const ceiling = Math.min(cap, firstRetryMs * 2 ** Math.min(Math.max(failures - 1, 0), 40));
  // "Equal jitter": at least half the exponential step, so the back-off still grows.
  const delay = ceiling / 2 + random() * (ceiling / 2);
  return Math.round(Math.min(cap, Math.max(firstRetryMs, delay)));
}
