import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createLogger } from '../core/log.js';
import { IdentitySource } from './identitySource.js';
import { identityMaterial } from './material.js';

const log = createLogger('identity');

/** How often the files are looked at for a change (stat polling works on every filesystem, mounted secrets included). */
const POLL_INTERVAL_MS = 1_000;

export interface FileIdentityOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly bundleFile: string;
}

/**
 * An identity from certificates managed elsewhere (cert-manager, SPIRE, a script): three PEM files,
 * watched. A change is taken once the three files agree (the key matches the certificate, which chains
 * to the bundle); until then the last good set stays in use, so a half-written update is never served.
 */
export class FileIdentity extends IdentitySource {
  constructor(private readonly options: FileIdentityOptions) {
    super();
  }

  start(): Promise<void> {
    this.load(true);
    for (const file of this.files()) watchFile(file, { interval: POLL_INTERVAL_MS }, () => this.load(false));
    return Promise.resolve();
  }

  override close(): void {
    super.close();
    for (const file of this.files()) unwatchFile(file);
  }

  private files(): string[] {
    return [this.options.certFile, this.options.keyFile, this.options.bundleFile];
  }

  private load(first: boolean): void {
    const at = new Date();
    try {
      const material = identityMaterial(readFileSync(this.options.keyFile, 'utf8'), readFileSync(this.options.certFile, 'utf8'), readFileSync(this.options.bundleFile, 'utf8'));
      if (material.serial === this.current?.serial && material.bundlePem === this.current.bundlePem) return;
      this.publish(material, { at, outcome: 'ok' });
      log.info('certificate loaded', { id: material.id.uri, serial: material.serial, not_after: material.notAfter.toISOString() });
    } catch (error) {
      if (first) throw error;
      this.recordFailure({ at, outcome: (error as Error).message });
      log.warn('certificate files changed but do not form a valid identity; keeping the current one', { error: (error as Error).message });
    }
  }
}
