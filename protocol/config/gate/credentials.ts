/** Which issuers' codes the lane accepts, and how strictly it reads their times. */
import { Type, type Static } from '@sinclair/typebox';
import { Defaulted, FilledObject } from '../schema-kit.js';

export const credentialsSchema = FilledObject({
  trust: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'File or folder of issuer signer certificates (PEM or DER), or the signed trust list gate-provision export-trust writes (checked with mqtt.centreKeys)',
    }),
  ),
  clockSkewSeconds: Defaulted(Type.Integer({ minimum: 0, maximum: 3600, description: 'Tolerance on iat and exp' }), 60),
  maxDynamicLifetimeSeconds: Defaulted(
    Type.Integer({ minimum: 30, maximum: 86400, description: 'A dynamic code that lives longer than this is refused' }),
    900,
  ),
});

export type CredentialsConfig = Static<typeof credentialsSchema>;
