#!/usr/bin/env node
// The gate-agent executable; the commands live in gate-agent.ts so tests can import them.
import { main } from './gate-agent.js';

/**
 * Once the command has finished the process exits, with its code, even if
 * something is still open: a driver's handle left behind (johnny-five keeps
 * an interval for as long as an input is active, as the fire alarm is)
 * would otherwise keep a stopped agent alive, and its service manager would
 * never see it exit. The output is written by then (pino and process.stdout
 * write synchronously to files and pipes on Linux).
 */
const EXIT_GRACE_MS = 1_000;

function exitWith(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    process.stderr.write(`gate-agent: still running ${EXIT_GRACE_MS} ms after the command finished (a handle left open): exiting\n`);
    process.exit(code);
  }, EXIT_GRACE_MS).unref();
}

main(process.argv.slice(2)).then(exitWith, (error: unknown) => {
  process.stderr.write(`gate-agent: ${(error as Error).stack ?? String(error)}\n`);
  exitWith(2);
});
