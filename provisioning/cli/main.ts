#!/usr/bin/env node
// The gate-provision executable; the commands live in gate-provision.ts so tests can import them.
import { main } from './gate-provision.js';

// `gate-provision issuer list | head` closes the pipe early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`gate-provision: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 2;
  },
);
