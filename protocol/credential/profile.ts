/**
 * The two credential profiles the gate reads and the text prefix that marks
 * each (docs/credential-profile.md): our GZHC1 health codes and EU DCC "HC1:"
 * certificates. A module of its own so that the encoder (the issuing side)
 * does not have to import the verifier to know them.
 */
export const PREFIXES = { gzhc: 'GZHC1:', dcc: 'HC1:' } as const;
export type Profile = keyof typeof PREFIXES;
