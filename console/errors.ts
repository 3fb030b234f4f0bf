/**
 * One error for what the console refuses or cannot do: callers switch on
 * `code`, a closed set listed here and in docs/errors.md.
 */
export const CONSOLE_ERRORS = [
  'commands-disabled', // an operator command asked for, and the console has no operator key to sign it
] as const;

export type ConsoleErrorCode = (typeof CONSOLE_ERRORS)[number];

export class ConsoleError extends Error {
  override readonly name = 'ConsoleError';
  constructor(
    readonly code: ConsoleErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
