/**
 * Errors that cross the kernel's boundary. Each has a stable `name`; callers
 * match on it, not on the message.
 */

/** A vat made a syscall it has no right to make. The vat fails (docs/architecture.md, failed vats). */
export class IllegalSyscallError extends Error {
  override name = 'IllegalSyscallError';
}

/** A caller of the kernel's API named a vat or object that does not exist. */
export class UnknownVatError extends Error {
  override name = 'UnknownVatError';
}

/** A vat could not be created (bad bundle, duplicate name, failed start). */
export class VatCreationError extends Error {
  override name = 'VatCreationError';
}

/** A caller of the kernel's API named a vat that was terminated: it has no objects any more. */
export class TerminatedVatError extends Error {
  override name = 'TerminatedVatError';
}
