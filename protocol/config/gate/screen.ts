/** The gate's screen and the staff page, served by the agent. */
import { Type, type Static } from '@sinclair/typebox';
import { Defaulted, StrictObject } from '../schema-kit.js';

export const screenTlsSchema = StrictObject(
  {
    cert: Type.String({ minLength: 1, description: 'PEM certificate chain file' }),
    key: Type.String({ minLength: 1, description: 'PEM private key file' }),
  },
  { description: 'Serve over HTTPS: required for a staff sign-in on any address but loopback' },
);

export const screenSchema = StrictObject(
  {
    host: Defaulted(
      Type.String({ minLength: 1, description: 'Address to listen on; the kiosk browser on the gate uses loopback' }),
      '127.0.0.1',
    ),
    port: Defaulted(Type.Integer({ minimum: 0, maximum: 65535, description: '0: any free port (printed in the log)' }), 8080),
    tls: Type.Optional(screenTlsSchema),
  },
  { description: "The gate's screen (GET /) and the staff page (/staff), served by the agent; absent: not served" },
);

export type ScreenTlsConfig = Static<typeof screenTlsSchema>;
export type ScreenConfig = Static<typeof screenSchema>;
