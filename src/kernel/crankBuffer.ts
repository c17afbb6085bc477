import type { CapData, EndpointId, KernelMessage, KPromiseRef, KRef } from '../store/types.js';

/** A kernel-side waiter's view of a settled promise. */
export interface Settlement {
  rejected: boolean;
  data: CapData<KRef>;
}

/** Runs after the COMMIT that made its settlement durable. */
export type PostCommitAction = () => void;

/**
 * Everything a crank produces for the outside of its vat, held until the
 * crank succeeds (the seed's crank buffer). On success the kernel flushes it
 * inside the crank's savepoint; on abort it is dropped with the savepoint, so
 * a rolled-back crank leaves no trace. Reference counts for what the buffer
 * holds are taken when an entry is buffered, inside the savepoint, so a
 * rollback undoes them too.
 */
export class CrankBuffer {
  sends: { target: KRef; message: KernelMessage }[] = [];
  notifies: { endpoint: EndpointId; kpid: KPromiseRef }[] = [];
  /** Kernel waiters to run once the crank is committed, never before. */
  postCommit: PostCommitAction[] = [];

  get empty(): boolean {
    return this.sends.length === 0 && this.notifies.length === 0 && this.postCommit.length === 0;
  }

  clear(): void {
    this.sends = [];
    this.notifies = [];
    this.postCommit = [];
  }
}
