// @endo/import-bundle ships no type declarations; this is the part we use.
declare module '@endo/import-bundle' {
  export function importBundle(
    bundle: unknown,
    options?: { endowments?: object; inescapableGlobalProperties?: object },
  ): Promise<Record<string, unknown>>;
}
