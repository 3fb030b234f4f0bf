/** The words of the health-code rules (Guizhou Health Code Management Rules), as types. */

export const COLOURS = ['green', 'yellow', 'red'] as const;
export type Colour = (typeof COLOURS)[number];

/** A dynamic code is shown on a phone and lives minutes; a printed code is static paper. */
export const CODE_KINDS = ['dynamic', 'printed'] as const;
export type CodeKind = (typeof CODE_KINDS)[number];

export const VERDICTS = ['pass', 'deny', 'hold'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** How the colour that decided was learnt: recorded with every decision. */
export const DECIDED_BY = ['offline-code', 'pushed-status', 'online-lookup', 'staff'] as const;
export type DecidedBy = (typeof DECIDED_BY)[number];
