/**
 * What runs a vat's code: `liveslots` (Agoric's, the default: every Endo
 * feature) or `lean` (this repository's, faster, a subset: see
 * docs/writing-vats.md). Both speak the same dispatch/syscall interface.
 * (A module of its own, without the runtimes: the CLI's client commands
 * check a runtime's name without loading either.)
 */
export const vatRuntimes = ['liveslots', 'lean'] as const;
export type VatRuntime = (typeof vatRuntimes)[number];
