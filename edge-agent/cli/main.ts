#!/usr/bin/env node
// The gate-agent executable; the commands live in gate-agent.ts so tests can import them.
import { main } from './gate-agent.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`gate-agent: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 2;
  },
);
