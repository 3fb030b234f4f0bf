/** Events waiting for the broker: how many, how old, and how many in flight. */
import { Type, type Static } from '@sinclair/typebox';
import { Defaulted, FilledObject } from '../schema-kit.js';

export const outboxSchema = FilledObject(
  {
    maxMessages: Defaulted(Type.Integer({ minimum: 100, maximum: 10000000 }), 200000),
    maxAgeDays: Defaulted(Type.Integer({ minimum: 1, maximum: 365 }), 30),
    warnAtFraction: Defaulted(
      Type.Number({
        exclusiveMinimum: 0,
        exclusiveMaximum: 1,
        description: 'Raise an outbox-filling fault when the depth passes this fraction of maxMessages',
      }),
      0.8,
    ),
    inflight: Defaulted(Type.Integer({ minimum: 1, maximum: 65535, description: 'Messages published but not yet acknowledged, at most' }), 256),
  },
  { description: 'Events waiting for the broker, kept on disk (in the journal file) until it acknowledges them' },
);

export type OutboxConfig = Static<typeof outboxSchema>;
