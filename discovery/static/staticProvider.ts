import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createLogger } from '../../sidecar/core/log.js';
import type { DiscoveryProvider, EndpointSpec, Resolver, ResolverListener } from '../resolver.js';
import { parseStaticFile, StaticFileError, type StaticServices } from './staticFile.js';

const log = createLogger('discovery.static');

/** Coalesces the burst of events an editor or a ConfigMap swap produces into one reload. */
const RELOAD_DEBOUNCE_MS = 50;

/**
 * Endpoints from a YAML/JSON file, hot-reloaded. The file's directory is watched (not the file), so
 * atomic renames and Kubernetes ConfigMap symlink swaps are both seen; the file is re-read on any
 * event and applied only if its content changed. A broken edit is logged and reported to resolvers
 * as an error while the last good version stays in force.
 */
export class StaticProvider implements DiscoveryProvider {
  readonly kind = 'static';
  private services: StaticServices;
  private lastText: string;
  private readonly listeners = new Map<ResolverListener, string>();
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();

  /** Reads the file once, synchronously; throws StaticFileError if it is missing or invalid. */
  constructor(readonly file: string) {
    try {
      this.lastText = readFileSync(file, 'utf8');
    } catch (error) {
      throw new StaticFileError(file, [`cannot read: ${(error as Error).message}`]);
    }
    this.services = parseStaticFile(file, this.lastText);
  }

  /** Starts watching the file for edits. */
  watch(): void {
    if (this.watcher !== undefined) return;
    this.watcher = watch(dirname(this.file), { persistent: false }, () => this.scheduleReload());
    this.watcher.on('error', (error) => log.warn('file watch failed; edits are no longer picked up', { file: this.file, error }));
  }

  resolver(service: string): Resolver {
    let current: ResolverListener | undefined;
    return {
      start: (listener) => {
        current = listener;
        this.listeners.set(listener, service);
        const endpoints = this.services.get(service);
        if (endpoints === undefined) log.warn('service not in endpoints file', { service, file: this.file });
        listener.onUpdate({ kind: 'reset', endpoints: endpoints ?? [] });
      },
      stop: () => {
        if (current !== undefined) this.listeners.delete(current);
      },
    };
  }

  /** Re-reads the file now; resolves once any change has been delivered. Exposed for tests and SIGHUP. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.reloadOnce());
    return this.reloading;
  }

  close(): Promise<void> {
    clearTimeout(this.reloadTimer);
    this.watcher?.close();
    this.watcher = undefined;
    this.listeners.clear();
    return this.reloading;
  }

  private scheduleReload(): void {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => void this.reload(), RELOAD_DEBOUNCE_MS);
  }

  private async reloadOnce(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      // Mid-rename the file can be briefly absent; the next event will bring it back.
      this.reportError(new StaticFileError(this.file, [`cannot read: ${(error as Error).message}`]));
      return;
    }
    if (text === this.lastText) return;
    let next: StaticServices;
    try {
      next = parseStaticFile(this.file, text);
    } catch (error) {
      this.lastText = text;
      this.reportError(error as Error);
      return;
    }
    const previous = this.services;
    this.services = next;
    this.lastText = text;
    log.info('endpoints file reloaded', { file: basename(this.file), services: next.size });
    for (const [listener, service] of this.listeners) {
      const endpoints = next.get(service) ?? [];
      if (!sameEndpoints(previous.get(service) ?? [], endpoints)) listener.onUpdate({ kind: 'reset', endpoints });
    }
  }

  private reportError(error: Error): void {
    log.error('endpoints file rejected; keeping the last good version', { file: this.file, error });
    for (const listener of this.listeners.keys()) listener.onError(error);
  }
}

function sameEndpoints(a: readonly EndpointSpec[], b: readonly EndpointSpec[]): boolean {
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}
