/**
 * The signed trust list (the file gate-provision export-trust writes),
 * pushed retained on <base>/<site>/centre/trust-list: each gate applies it
 * when its version is above the one in force, with no restart and no
 * reload-trust (docs/keys.md). The centre checks it first as a gate would,
 * with the site's key in force now, so that it never publishes a list every
 * gate would refuse; the bytes go out as they are.
 */
import { TrustError } from '../../protocol/trust/errors.js';
import { openTrustList, type TrustListPayload } from '../../protocol/trust/trust-list.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CentreError } from '../errors.js';
import { publishSigned, type RetainedPublisher } from './publish.js';

export interface TrustListSource {
  site: string;
  /** The PEM certificate of the key that signs the site's messages now (KeyRing.certificatePem). */
  certificatePem: string;
}

/** The list's payload when it is one the site's gates would take; CentreError trust-list-refused naming why not. */
export function checkTrustList(bytes: Buffer, source: TrustListSource, name = 'trust list file'): TrustListPayload {
  const keys = new TrustStore();
  keys.addEncoded(source.certificatePem, `site ${source.site}'s centre key`);
  try {
    return openTrustList(bytes, name, { centreKeys: keys, site: source.site }).list;
  } catch (error) {
    if (error instanceof TrustError) throw new CentreError('trust-list-refused', `${error.message} (checked with site ${source.site}'s key in force now)`, { cause: error });
    throw error;
  }
}

/** Checks the list and publishes it retained, awaiting the broker; returns its payload (version, issuedAt). */
export async function publishTrustList(client: RetainedPublisher, baseTopic: string, source: TrustListSource, bytes: Buffer, name?: string): Promise<TrustListPayload> {
  const list = checkTrustList(bytes, source, name);
  await publishSigned(client, baseTopic, source.site, 'centre/trust-list', bytes.toString('utf8').replace(/^\uFEFF/, '').trim());
  return list;
}
