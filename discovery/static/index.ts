import { resolve } from 'node:path';
import { z } from 'zod';
import { DiscoveryInputError } from '../inputError.js';
import type { DiscoveryKind } from '../registry.js';
import { StaticFileError } from './staticFile.js';
import { StaticProvider } from './staticProvider.js';

const StaticConfig = z.strictObject({
  /** Path of the endpoints file, relative to the configuration file. */
  file: z.string().min(1),
});

export const staticDiscovery: DiscoveryKind<z.infer<typeof StaticConfig>> = {
  kind: 'static',
  configSchema: StaticConfig,
  create(config, context) {
    let provider: StaticProvider;
    try {
      provider = new StaticProvider(resolve(context.baseDir, config.file));
    } catch (error) {
      if (!(error instanceof StaticFileError)) throw error;
      throw new DiscoveryInputError('file', error.problems.map((problem) => `${config.file}: ${problem}`));
    }
    provider.watch();
    return provider;
  },
};

export { StaticProvider } from './staticProvider.js';
export { parseStaticFile, StaticFileError } from './staticFile.js';
