import { DiscoveryInputError } from '../../discovery/inputError.js';
import { discoveryKind } from '../../discovery/registry.js';
import { sessionKey } from '../affinity/sessionCookie.js';
import { ConfigError, loadConfigFile, type LoadedConfig } from '../config/load.js';
import { createLogger } from '../core/log.js';
import { startMemoryGovernor } from '../core/memoryGovernor.js';
import { Sidecar } from '../sidecar.js';
import { ExitCode } from './exitCodes.js';

const log = createLogger('cli');

/** Time connections get to finish when the sidecar is stopped by a signal. */
const STOP_GRACE_MS = 5_000;

/**
 * Loads and checks a configuration completely, including the files it points at (the static
 * endpoints file, session key files), so `validate` and `sidecar` reject exactly the same inputs.
 * Returns undefined after printing the problems.
 */
export function loadChecked(file: string): LoadedConfig | undefined {
  try {
    const loaded = loadConfigFile(file);
    checkReferencedFiles(loaded);
    return loaded;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return undefined;
    }
    throw error;
  }
}

/** Reads every file the configuration refers to; throws a ConfigError naming each bad one. */
function checkReferencedFiles(loaded: LoadedConfig): void {
  const problems: string[] = [];
  const discovery = loaded.config.discovery;
  if (discovery !== undefined) {
    try {
      void discoveryKind(discovery.kind)?.create(discovery.config, { baseDir: loaded.baseDir }).close();
    } catch (error) {
      if (!(error instanceof DiscoveryInputError)) throw error;
      problems.push(...error.problems.map((problem) => `discovery.${discovery.kind}.${error.field}: ${problem}`));
    }
  }
  loaded.config.upstreams.forEach((upstream, index) => {
    if (upstream.stateful_session === undefined) return;
    try {
      sessionKey(upstream.stateful_session, loaded.baseDir);
    } catch (error) {
      problems.push(`upstreams[${index}].stateful_session.key_file: ${(error as Error).message}`);
    }
  });
  if (problems.length > 0) throw new ConfigError(loaded.source, problems);
}

export function validateCommand(file: string): number {
  const loaded = loadChecked(file);
  if (loaded === undefined) return ExitCode.Usage;
  const { config } = loaded;
  process.stdout.write(`${file}: valid (${config.upstreams.length} upstream(s)${config.inbound === undefined ? '' : ', inbound'})\n`);
  return ExitCode.Ok;
}

/** Runs a sidecar until SIGTERM/SIGINT; resolves with the exit code. */
export async function sidecarCommand(file: string): Promise<number> {
  const loaded = loadChecked(file);
  if (loaded === undefined) return ExitCode.Usage;
  startMemoryGovernor();
  let sidecar: Sidecar;
  try {
    sidecar = await Sidecar.start(loaded);
  } catch (error) {
    log.error('sidecar failed to start', { error });
    return ExitCode.Failure;
  }
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn('second signal; exiting now', { signal });
        resolve(ExitCode.Failure);
        return;
      }
      stopping = true;
      log.info('stopping', { signal, grace_ms: STOP_GRACE_MS });
      sidecar.stop(STOP_GRACE_MS).then(
        () => resolve(ExitCode.Ok),
        (error: unknown) => {
          log.error('stop failed', { error });
          resolve(ExitCode.Failure);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
