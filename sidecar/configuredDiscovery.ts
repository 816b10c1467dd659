import { discoveryKind } from '../discovery/registry.js';
import type { DiscoveryProvider } from '../discovery/resolver.js';
import type { LoadedConfig } from './config/load.js';

/** The configured discovery provider, if any. */
export function createDiscovery(loaded: LoadedConfig): DiscoveryProvider | undefined {
  const discovery = loaded.config.discovery;
  if (discovery === undefined) return undefined;
  const kind = discoveryKind(discovery.kind);
  if (kind === undefined) throw new Error(`unknown discovery kind ${discovery.kind}`); // config validation prevents this
  return kind.create(discovery.config, { baseDir: loaded.baseDir });
}
