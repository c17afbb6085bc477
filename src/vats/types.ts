/**
 * The boundary between the kernel and a vat's liveslots: deliveries go in,
 * syscalls come out. Refs here are the vat's own (vrefs); the kernel
 * translates them through the vat's c-list.
 */

export interface VatCapData {
  body: string;
  slots: string[];
}

export type VatResolution = [vpid: string, rejected: boolean, data: VatCapData];

export type VatDelivery =
  | ['startVat', VatCapData]
  | ['message', string, { methargs: VatCapData; result: string | null }]
  | ['notify', VatResolution[]]
  | ['dropExports', string[]]
  | ['retireExports', string[]]
  | ['retireImports', string[]]
  | ['bringOutYourDead'];

/** The syscalls liveslots makes; every one is answered synchronously. */
export interface VatSyscall {
  send(target: string, methargs: VatCapData, result?: string | null): void;
  subscribe(vpid: string): void;
  resolve(resolutions: VatResolution[]): void;
  exit(isFailure: boolean, info: VatCapData): void;
  dropImports(vrefs: string[]): void;
  retireImports(vrefs: string[]): void;
  retireExports(vrefs: string[]): void;
  abandonExports(vrefs: string[]): void;
  callNow(target: string, method: string, args: VatCapData): VatCapData;
  vatstoreGet(key: string): string | undefined;
  vatstoreGetNextKey(priorKey: string): string | undefined;
  vatstoreSet(key: string, value: string): void;
  vatstoreDelete(key: string): void;
}

/** What a delivery came to, as the vat's host saw it. */
export type DeliveryOutcome = { ok: true } | { ok: false; reason: string };
