/**
 * What the centre pushes about trust itself, for the link: its next key
 * (`centre/key`, credential/centre-key-rollover.ts) and the issuer trust list
 * (`centre/trust-list`, protocol/trust/trust-list.ts), both retained on the
 * site (docs/keys.md). A pushed list newer than the one in force goes into
 * the verifier at once, with its operator keys; no restart, no reload-trust.
 *
 * Every refusal is a MessageError, which the link reports as a security
 * event: the trust list reader's TrustError codes are told as the wire's
 * kinds (not-newer is replayed, wrong-site wrong-target, a list of the wrong
 * shape schema).
 */
import type { Logger } from 'pino';
import { MessageError, type MessageErrorCode } from '../../protocol/message-error.js';
import { TrustError, type TrustErrorCode } from '../../protocol/trust/errors.js';
import { describeTrust, type IssuerTrust } from '../../protocol/trust/trust-list.js';
import type { CredentialVerifier } from '../credential/verifier.js';
import type { CentreKeyRollover } from '../credential/centre-key-rollover.js';

/** The site leaves this handles; the link hands each message on one of them over. */
export type CentreTrustLeaf = 'centre/key' | 'centre/trust-list';
export type CentreTrustHandlers = { readonly [L in CentreTrustLeaf]: (payload: Buffer) => void };

/** The security event's kind for each way the trust list reader refuses a list. */
const REFUSAL_OF: Record<TrustErrorCode, MessageErrorCode> = {
  malformed: 'malformed',
  'no-centre-keys': 'unknown-key',
  'bad-signature': 'bad-signature',
  'unknown-key': 'unknown-key',
  'wrong-type': 'wrong-type',
  'wrong-site': 'wrong-target',
  'not-newer': 'replayed',
  'empty-list': 'schema',
  'not-a-certificate': 'schema',
  unreadable: 'schema',
  empty: 'schema',
};

export interface CentreTrustOptions {
  rollover: CentreKeyRollover;
  /** null: the lane has no credentials.trust to keep a list for, and refuses one. */
  issuerTrust: IssuerTrust | null;
  verifier: Pick<CredentialVerifier, 'replaceTrust'>;
  logger: Logger;
}

export function centreTrustHandlers(options: CentreTrustOptions): CentreTrustHandlers {
  const { rollover, issuerTrust, verifier, logger } = options;
  return {
    'centre/key': (payload) => {
      rollover.accept(payload);
    },
    'centre/trust-list': (payload) => {
      if (!issuerTrust) throw new MessageError('unexpected-topic', 'this lane keeps no signed trust list (credentials.trust is not set)');
      let loaded;
      try {
        loaded = issuerTrust.applyPushed(payload);
      } catch (error) {
        if (error instanceof TrustError) throw new MessageError(REFUSAL_OF[error.code], error.message, { cause: error });
        throw error;
      }
      if (!loaded) return; // the list in force, delivered again
      verifier.replaceTrust(loaded.store);
      logger.warn({ trust: describeTrust(loaded) }, 'issuer trust list pushed by the centre is in force');
    },
  };
}
