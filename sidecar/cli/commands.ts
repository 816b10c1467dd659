import { readFileSync } from 'node:fs';
import { DiscoveryInputError } from '../../discovery/inputError.js';
import { discoveryKind } from '../../discovery/registry.js';
import { sessionKey } from '../affinity/sessionCookie.js';
import { CertificateStore } from '../gateway/certificateStore.js';
import { ConfigError, loadConfigFile, type LoadedConfig } from '../config/load.js';
import { createLogger } from '../core/log.js';
import { startMemoryGovernor } from '../core/memoryGovernor.js';
import { takeOver } from '../lifecycle/takeover.js';
import type { Sidecar } from '../sidecar.js';
import { startTandem, type Tandem } from '../tandem.js';
import { ExitCode } from './exitCodes.js';

const log = createLogger('cli');

/** A successor (`--replace`) gives up if it cannot serve within this long; the running instance goes on. */
const TAKEOVER_READY_TIMEOUT_MS = 60_000;

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
  loaded.config.gateways.forEach((gateway, index) => {
    if (gateway.tls === undefined) return;
    try {
      new CertificateStore(gateway.tls, loaded.baseDir);
    } catch (error) {
      problems.push(`gateways[${index}].tls.certificates: ${(error as Error).message}`);
    }
  });
  if (problems.length > 0) throw new ConfigError(loaded.source, problems);
}

export function validateCommand(file: string): number {
  const loaded = loadChecked(file);
  if (loaded === undefined) return ExitCode.Usage;
  const { config } = loaded;
  const gateways = config.gateways.length === 0 ? '' : `, ${config.gateways.length} gateway(s)`;
  process.stdout.write(`${file}: valid (${config.upstreams.length} upstream(s)${config.inbound === undefined ? '' : ', inbound'}${gateways})\n`);
  return ExitCode.Ok;
}

/**
 * Runs a sidecar until it has drained: after SIGTERM, SIGINT or `POST /drain` (a second signal exits
 * at once). With `replace`, takes over from the Tandem running with this configuration (in-place
 * upgrade, `lifecycle/takeover.ts`). Resolves with the exit code.
 */
export async function sidecarCommand(file: string, options: { replace?: boolean } = {}): Promise<number> {
  const loaded = loadChecked(file);
  if (loaded === undefined) return ExitCode.Usage;
  const replace = options.replace === true;
  const { admin } = loaded.config;
  if (replace && admin.port === 0) {
    process.stderr.write(`${file}: admin.port: --replace finds the running Tandem on its admin port, which must not be 0\n`);
    return ExitCode.Usage;
  }
  // SO_REUSEPORT is what lets a successor bind these ports; Linux's semantics are the ones relied on.
  const reusePort = process.platform === 'linux';
  if (replace && loaded.config.workers > 1) {
    process.stderr.write(`${file}: workers: --replace takes over with a single process for now; run the successor with workers: 1 (docs/workers.md)\n`);
    return ExitCode.Usage;
  }
  if (replace && !reusePort) {
    process.stderr.write(`tandem sidecar --replace: needs SO_REUSEPORT as Linux has it (this is ${process.platform})\n`);
    return ExitCode.Usage;
  }
  startMemoryGovernor();
  // Handlers first: a signal while starting (the listeners may already be bound) must drain, not kill.
  let sidecar: Tandem | undefined;
  let signalled = false;
  const takeover = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn('second signal; exiting now', { signal });
      process.exit(ExitCode.Failure);
    }
    log.info('signal received; draining', { signal });
    signalled = true;
    takeover.abort(new Error(`${signal} during the takeover`));
    void sidecar?.drain('shutdown');
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    sidecar = await startTandem(loaded, { reusePort, deferBinding: replace });
  } catch (error) {
    log.error('sidecar failed to start', { error });
    return ExitCode.Failure;
  }
  if (signalled) void sidecar.drain('shutdown');
  else if (replace) {
    warnWithoutRequestMigration();
    try {
      await takeOver(sidecar as Sidecar, { adminAddress: admin.address, adminPort: admin.port, readyTimeoutMs: TAKEOVER_READY_TIMEOUT_MS, signal: takeover.signal });
    } catch (error) {
      if (takeover.signal.aborted) {
        // Stopped by a signal: what this instance had bound drains, and it exits like any drained sidecar.
        log.info('takeover abandoned', { reason: (error as Error).message });
        return (await sidecar.whenDrained().then(() => true, () => false)) ? ExitCode.Ok : ExitCode.Failure;
      }
      log.error('cannot take over; the running Tandem goes on serving', { error: (error as Error).message });
      await sidecar.stop();
      return ExitCode.Failure;
    }
  }
  try {
    await sidecar.whenDrained();
    return ExitCode.Ok;
  } catch (error) {
    log.error('drain failed', { error });
    return ExitCode.Failure;
  }
}

/**
 * Without `net.ipv4.tcp_migrate_req=1` (Linux 5.14+), connections the kernel has queued on the old
 * instance's listening socket when it closes are reset rather than moved to the successor's.
 */
function warnWithoutRequestMigration(): void {
  let value: string;
  try {
    value = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim();
  } catch {
    value = 'missing';
  }
  if (value !== '1') {
    log.warn('net.ipv4.tcp_migrate_req is not 1: a few connections queued on the running Tandem when it hands over may be reset', { tcp_migrate_req: value });
  }
}
