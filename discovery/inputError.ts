/** A discovery provider's config names a file (a token, a CA bundle) that cannot be used. */
export class DiscoveryInputError extends Error {
  override readonly name = 'DiscoveryInputError';
  constructor(
    /** The config field, relative to the provider's block (`token_file`). */
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}
