/** The Prometheus endpoint. */
import { Type, type Static } from '@sinclair/typebox';
import { Defaulted, FilledObject } from '../schema-kit.js';

export const metricsSchema = FilledObject(
  {
    enabled: Defaulted(Type.Boolean(), false),
    host: Defaulted(
      Type.String({
        minLength: 1,
        description: 'Address to listen on; anything but loopback lets that network read the gate state (no personal data)',
      }),
      '127.0.0.1',
    ),
    port: Defaulted(Type.Integer({ minimum: 0, maximum: 65535, description: "9464, Prometheus' usual exporter port; 0: any free port" }), 9464),
    path: Defaulted(Type.String({ pattern: '^/[^?#]*$' }), '/metrics'),
  },
  { description: 'The Prometheus endpoint (README, "Metrics"); off unless enabled' },
);

export type MetricsConfig = Static<typeof metricsSchema>;
