import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DiscoveryInputError } from '../inputError.js';
import type { DiscoveryKind } from '../registry.js';
import { ConsulConfig } from './consulConfig.js';
import { ConsulProvider } from './consulProvider.js';

function readInput(field: string, baseDir: string, file: string): string {
  try {
    return readFileSync(resolve(baseDir, file), 'utf8');
  } catch (error) {
    throw new DiscoveryInputError(field, `cannot read ${file}: ${(error as Error).message}`);
  }
}

export const consulDiscovery: DiscoveryKind<ConsulConfig> = {
  kind: 'consul',
  configSchema: ConsulConfig,
  create(config, context) {
    const token = config.token?.value ?? (config.token_file === undefined ? undefined : readInput('token_file', context.baseDir, config.token_file).trim());
    if (token === '') throw new DiscoveryInputError('token_file', `${config.token_file ?? ''} is empty`);
    const ca = config.ca_file === undefined ? undefined : readInput('ca_file', context.baseDir, config.ca_file);
    return new ConsulProvider(config, { token, ca });
  },
};

export { ConsulProvider } from './consulProvider.js';
export { endpointsFromHealth, type HealthEntry } from './healthEntries.js';
