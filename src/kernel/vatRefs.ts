import { assert } from '../util/assert.js';

/**
 * A vat's own reference, as liveslots writes it: `o+N`, `o-N`, `p+N`, `p-N`,
 * and for virtual and durable objects `o+vK/N`, `o+dK/N` (optionally with a
 * `:facet`). `+` means the vat allocated it (an export), `-` that the kernel
 * did (an import).
 */
export interface ParsedVatRef {
  kind: 'object' | 'promise';
  allocatedByVat: boolean;
  /** A durable object (`o+d…`): it survives a restart of its vat. */
  durable: boolean;
  /** The vat's root object `o+0`: liveslots re-exports it on every start. */
  root: boolean;
}

const vrefPattern = /^([op])([+-])(d|v)?([0-9]+)(\/[0-9]+(:[0-9]+)?)?$/;

/** Parses a vref; returns undefined if it is not one (an illegal syscall). */
export function parseVatRef(vref: string): ParsedVatRef | undefined {
  const match = vrefPattern.exec(vref);
  if (match === null) {
    return undefined;
  }
  const [, type, sign, virtualKind, id, rest] = match;
  const kind = type === 'o' ? 'object' : 'promise';
  if (kind === 'promise' && (virtualKind !== undefined || rest !== undefined)) {
    return undefined;
  }
  return {
    kind,
    allocatedByVat: sign === '+',
    durable: virtualKind === 'd',
    root: vref === 'o+0',
  };
}

/** The vref the kernel allocates for the `n`th import of that kind into a vat. */
export function importVatRef(kind: 'object' | 'promise', n: number): string {
  assert(Number.isSafeInteger(n) && n > 0, `bad import number ${n}`);
  return `${kind === 'object' ? 'o' : 'p'}-${n}`;
}

export const rootVatRef = 'o+0';
