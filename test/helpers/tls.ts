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

/** A fresh self-signed ECDSA P-256 certificate for `localhost` and 127.0.0.1, made by the openssl CLI. */
export function selfSignedCertificate(): Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
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
