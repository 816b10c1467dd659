import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { createLogger } from '../core/log.js';
import type { GatewayTlsConfig } from './gatewayConfig.js';

const log = createLogger('gateway');

/** How often certificate files are looked at: a replaced file is served within this (and a read). */
const POLL_INTERVAL_MS = 500;

interface Entry {
  readonly certFile: string;
  readonly keyFile: string;
  context: SecureContext;
  /** The PEM pair `context` was made from. */
  pem: Pem;
}

interface Pem {
  readonly cert: string;
  readonly key: string;
}

/**
 * A gateway's certificates, chosen by SNI: an exact name first, then a `*.` name covering the first
 * label (one label only, as certificate wildcards do, RFC 6125 §6.4.3), then the default. Files are
 * watched: a certificate and key that load (the key must match the certificate) replace the old pair
 * for new handshakes; open connections keep theirs. A pair that does not load — a certificate written
 * before its key — is logged and the old one kept until the files agree.
 */
export class CertificateStore {
  private readonly entries: Entry[];
  private readonly exact = new Map<string, Entry>();
  private readonly wildcard = new Map<string, Entry>();
  private readonly defaultEntry: Entry;
  /** Told when the default pair is replaced: a TLS server's own context (handshakes without SNI) must follow. */
  onDefaultChange: () => void = () => undefined;

  /** Loads every certificate; throws naming the file when one cannot be used. */
  constructor(
    private readonly config: GatewayTlsConfig,
    baseDir: string,
  ) {
    this.entries = config.certificates.map((certificate) => {
      const certFile = resolve(baseDir, certificate.cert_file);
      const keyFile = resolve(baseDir, certificate.key_file);
      const pem = readPair(certFile, keyFile);
      return { certFile, keyFile, context: this.contextOf(pem, certFile), pem };
    });
    config.certificates.forEach((certificate, index) => {
      const entry = this.entries[index] as Entry;
      for (const name of certificate.server_names) {
        if (name.startsWith('*.')) this.wildcard.set(name.slice(2), entry);
        else this.exact.set(name, entry);
      }
    });
    const chosen = config.certificates.findIndex((certificate) => certificate.default);
    this.defaultEntry = this.entries[Math.max(chosen, 0)] as Entry;
  }

  /** The context for a handshake that asked for `serverName` (SNI), or the default. */
  contextFor(serverName: string | undefined): SecureContext {
    if (serverName === undefined || serverName === '') return this.defaultEntry.context;
    const name = serverName.toLowerCase();
    const dot = name.indexOf('.');
    return (this.exact.get(name) ?? (dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined) ?? this.defaultEntry).context;
  }

  /** What a TLS server needs for handshakes without SNI (its own context): the default pair. */
  get defaultOptions(): { readonly cert: string; readonly key: string; readonly minVersion: GatewayTlsConfig['min_version'] } {
    return { ...this.defaultEntry.pem, minVersion: this.config.min_version };
  }

  /** Starts watching the files. */
  watch(): void {
    for (const entry of this.entries) {
      for (const file of [entry.certFile, entry.keyFile]) watchFile(file, { interval: POLL_INTERVAL_MS, persistent: false }, () => this.reload(entry));
    }
  }

  stop(): void {
    for (const entry of this.entries) {
      unwatchFile(entry.certFile);
      unwatchFile(entry.keyFile);
    }
  }

  private reload(entry: Entry): void {
    let pem: Pem;
    try {
      pem = readPair(entry.certFile, entry.keyFile);
      if (pem.cert === entry.pem.cert && pem.key === entry.pem.key) return;
      entry.context = this.contextOf(pem, entry.certFile);
    } catch (error) {
      log.warn('certificate files changed but do not load; serving the previous pair', { cert_file: entry.certFile, error: error as Error });
      return;
    }
    entry.pem = pem;
    log.info('certificate reloaded', { cert_file: entry.certFile });
    if (entry === this.defaultEntry) this.onDefaultChange();
  }

  private contextOf(pem: Pem, certFile: string): SecureContext {
    try {
      return createSecureContext({ cert: pem.cert, key: pem.key, minVersion: this.config.min_version });
    } catch (error) {
      throw new Error(`${certFile}: ${(error as Error).message}`, { cause: error });
    }
  }
}

function readPair(certFile: string, keyFile: string): Pem {
  return { cert: read(certFile), key: read(keyFile) };
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}
