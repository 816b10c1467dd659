import { resolve } from 'node:path';
import { z } from 'zod';
import type { DiscoveryKind } from '../registry.js';
import { StaticProvider } from './staticProvider.js';

const StaticConfig = z.strictObject({
  /** Path of the endpoints file, relative to the configuration file. */
  file: z.string().min(1),
});

export const staticDiscovery: DiscoveryKind<z.infer<typeof StaticConfig>> = {
  kind: 'static',
  configSchema: StaticConfig,
  create(config, context) {
    const provider = new StaticProvider(resolve(context.baseDir, config.file));
    provider.watch();
    return provider;
  },
};

export { StaticProvider } from './staticProvider.js';
export { parseStaticFile, StaticFileError } from './staticFile.js';
