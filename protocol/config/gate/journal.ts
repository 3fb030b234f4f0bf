/** Where the lane's events are kept, and how hard each is pushed to the disk. */
import { Type, type Static } from '@sinclair/typebox';
import { Choice, Defaulted, FilledObject } from '../schema-kit.js';

export const journalSchema = FilledObject({
  path: Defaulted(Type.String({ minLength: 1 }), 'data/journal.db'),
  sync: Defaulted(
    Choice(['full', 'normal'], {
      description:
        'normal: an event survives a crash of the agent before the gate acts, and a power cut once flushed right after; full: fsync before the gate acts (slower on SD cards)',
    }),
    'normal',
  ),
});

export type JournalConfig = Static<typeof journalSchema>;
