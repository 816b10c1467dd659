import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Connector, ConnectTarget } from '../../sidecar/upstream/connector.js';

export interface Certificate {
  readonly cert: string;
  readonly key: string;
}

/**
 * A fresh self-signed certificate made by the openssl CLI: ECDSA P-256 (or RSA 2048) for `localhost`
 * and 127.0.0.1 unless other DNS names are given (the first is the subject's CN).
 */
export function selfSignedCertificate(options: { readonly names?: readonly string[]; readonly keyType?: 'ec' | 'rsa' } = {}): Certificate {
  const names = options.names ?? ['localhost'];
  const sans = [...names.map((name) => `DNS:${name}`), ...(options.names === undefined ? ['IP:127.0.0.1'] : [])].join(',');
  const key = options.keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const dir = mkdtempSync(join(tmpdir(), 'tandem-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', ...key, '-nodes', '-days', '1',
      '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${sans}`,
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A one-way TLS connector for tests of the connector seam: trusts `ca`, offers the target's ALPN
 * protocols and SNI, and records every target it was asked for.
 */
export function testTlsConnector(ca: string): Connector & { readonly targets: ConnectTarget[] } {
  const targets: ConnectTarget[] = [];
  const open = (target: ConnectTarget): TLSSocket => {
    targets.push(target);
    return tlsConnect({
      host: target.address,
      port: target.port,
      servername: 'localhost',
      ALPNProtocols: [...target.alpnProtocols],
      ca,
    });
  };
  return {
    scheme: 'https',
    targets,
    connect: open,
    negotiate: (target) =>
      new Promise((resolve, reject) => {
        const socket = open(target);
        socket.once('error', reject);
        socket.once('secureConnect', () => {
          socket.off('error', reject);
          resolve({ socket, protocol: socket.alpnProtocol === 'h2' ? 'h2' : 'http/1.1' });
        });
      }),
  };
}
