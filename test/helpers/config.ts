import { ConfigError, parseConfig } from '../../sidecar/config/load.js';

/** The problems a configuration document is rejected with (fails the test if it is accepted). */
export function configProblems(document: unknown): readonly string[] {
  try {
    parseConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('configuration was accepted');
}
