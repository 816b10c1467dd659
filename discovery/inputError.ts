/**
 * A discovery kind's configuration points at something unusable (a file that cannot be read or does
 * not parse, a token that is empty). Every kind's `create` throws this for bad inputs, so the CLI can
 * report them with field paths (`discovery.<kind>.<field>: <problem>`) without knowing any kind.
 */
export class DiscoveryInputError extends Error {
  override readonly name = 'DiscoveryInputError';
  readonly problems: readonly string[];

  constructor(
    /** The config field, relative to the kind's block (`token_file`). */
    readonly field: string,
    problems: string | readonly string[],
  ) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.map((problem) => `${field}: ${problem}`).join('; '));
    this.problems = list;
  }
}
