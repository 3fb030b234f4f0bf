/** The agent's log. */
import { type Static } from '@sinclair/typebox';
import { Choice, Defaulted, FilledObject } from '../schema-kit.js';

export const logSchema = FilledObject({
  level: Defaulted(Choice(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
});

export type LogConfig = Static<typeof logSchema>;
