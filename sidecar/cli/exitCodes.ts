/** Process exit codes, part of the CLI's interface. */
export const ExitCode = {
  Ok: 0,
  /** Something failed at run time (a port could not be bound, a crash). */
  Failure: 1,
  /** The configuration or the command line is wrong; nothing was started. */
  Usage: 2,
} as const;
