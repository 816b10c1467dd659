import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describeIssues } from './issues.js';
import { setup } from '../setup.js';
import { ConfigSchema, type TandemConfig } from './schema.js';

/** A configuration that failed validation; `problems` name each bad field. Exits the CLI with 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration ${source}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

/** A validated, frozen configuration and where it came from. */
export interface LoadedConfig {
  readonly config: TandemConfig;
  /** Directory relative paths in the configuration resolve against. */
  readonly baseDir: string;
  readonly source: string;
  /** The document as read, before validation: what workers (`workers: N`) validate again for themselves. */
  readonly document: unknown;
}

/** Validates an already-parsed document (YAML/JSON object). Throws ConfigError. */
export function parseConfig(document: unknown, source = '(inline)', baseDir = process.cwd()): LoadedConfig {
  setup();
  const result = ConfigSchema.safeParse(document ?? {});
  if (!result.success) throw new ConfigError(source, describeIssues(result.error));
  return { config: deepFreeze(result.data), baseDir, source, document };
}

/** Reads, parses (YAML or JSON) and validates a configuration file. Throws ConfigError. */
export function loadConfigFile(file: string): LoadedConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read: ${(error as Error).message}`]);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(file, [`not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`]);
  }
  return parseConfig(document, file, dirname(path));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
