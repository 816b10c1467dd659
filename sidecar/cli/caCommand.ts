import { parseArgs } from 'node:util';
import { CaServer } from '../../ca/server.js';
import { KEY_TYPES, type KeyType } from '../../ca/keys.js';
import { DEFAULT_NAMESPACE, SpiffeIdError, workloadId } from '../../ca/spiffe.js';
import { CaStoreError, initCa, openCa, retireCa, revokeToken, rotateCa } from '../../ca/store.js';
import { issueToken, readToken, TokenError, tokenId } from '../../ca/tokens.js';
import { parseDurationMs } from '../core/duration.js';
import { ExitCode } from './exitCodes.js';

export const CA_USAGE = `Usage: tandem ca <command> --dir DIR [options]

Commands:
  init --trust-domain DOMAIN [--key-type ecdsa-p256|rsa-2048] [--leaf-ttl 24h]
                         create a CA (root key and certificate, token secret) in DIR; never overwrites
  token --service NAME [--namespace NS] [--ttl 24h]
                         print a join token for spiffe://DOMAIN/ns/NS/svc/NAME
  revoke-token (--token TOKEN | --id ID)
                         refuse a join token from now on (a running \`ca serve\` sees it at once)
  serve [--address 127.0.0.1] [--port 8443]
                         run the CA's HTTPS API: sign CSRs, publish the trust bundle
  rotate                 make a new root, cross-signed by the current one; both are trusted
  retire                 stop trusting every root but the newest; leaves they signed are refused
  show                   print the trust domain, roots and bundle index
`;

const DEFAULT_TOKEN_TTL_MS = 24 * 3600_000;
const DEFAULT_PORT = 8443;

/** `tandem ca …`. Returns the exit code; `serve` returns only when the server stops. */
export async function caCommand(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        dir: { type: 'string' },
        'trust-domain': { type: 'string' },
        'key-type': { type: 'string' },
        'leaf-ttl': { type: 'string' },
        service: { type: 'string' },
        namespace: { type: 'string' },
        ttl: { type: 'string' },
        token: { type: 'string' },
        id: { type: 'string' },
        address: { type: 'string' },
        port: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help === true || command === undefined) {
    process.stdout.write(CA_USAGE);
    return command === undefined && values.help !== true ? ExitCode.Usage : ExitCode.Ok;
  }
  const dir = values.dir;
  if (dir === undefined) return usage(`tandem ca ${command}: --dir DIR is required`);
  const duration = (flag: 'leaf-ttl' | 'ttl', fallback: number): number | undefined => {
    const text = values[flag];
    if (text === undefined) return fallback;
    const ms = parseDurationMs(text);
    return ms === undefined || ms <= 0 ? undefined : ms;
  };
  try {
    switch (command) {
      case 'init': {
        const trustDomain = values['trust-domain'];
        if (trustDomain === undefined) return usage('tandem ca init: --trust-domain DOMAIN is required');
        const keyType = values['key-type'] ?? 'ecdsa-p256';
        if (!(KEY_TYPES as readonly string[]).includes(keyType)) return usage(`tandem ca init: --key-type: expected one of ${KEY_TYPES.join(', ')}, got "${keyType}"`);
        const leafTtlMs = duration('leaf-ttl', 24 * 3600_000);
        if (leafTtlMs === undefined) return usage(`tandem ca init: --leaf-ttl: expected a duration such as "24h", got "${values['leaf-ttl']}"`);
        const state = await initCa(dir, { trustDomain, keyType: keyType as KeyType, leafTtlMs });
        process.stdout.write(`CA created in ${dir} for trust domain ${state.trustDomain} (${state.keyType}); trust bundle: ${dir}/bundle.pem\n`);
        return ExitCode.Ok;
      }
      case 'token': {
        if (values.service === undefined) return usage('tandem ca token: --service NAME is required');
        const ttlMs = duration('ttl', DEFAULT_TOKEN_TTL_MS);
        if (ttlMs === undefined) return usage(`tandem ca token: --ttl: expected a duration such as "24h", got "${values.ttl}"`);
        const state = await openCa(dir);
        const id = workloadId(state.trustDomain, values.service, values.namespace ?? DEFAULT_NAMESPACE);
        const { token, claims } = issueToken(state.tokenSecret, id.uri, ttlMs);
        process.stderr.write(`join token ${claims.id} for ${id.uri}, expires ${new Date(claims.expiresAt).toISOString()}\n`);
        process.stdout.write(`${token}\n`);
        return ExitCode.Ok;
      }
      case 'revoke-token': {
        const state = await openCa(dir);
        if (values.token !== undefined) {
          const claims = readToken(state.tokenSecret, values.token);
          await revokeToken(dir, claims.id, claims.expiresAt);
          process.stdout.write(`revoked join token ${claims.id} (${claims.subject})\n`);
          return ExitCode.Ok;
        }
        const id = values.id ?? (values.token === undefined ? undefined : tokenId(values.token));
        if (id === undefined || !/^[0-9a-f]{32}$/.test(id)) return usage('tandem ca revoke-token: --token TOKEN or --id ID (32 hex digits) is required');
        await revokeToken(dir, id, null);
        process.stdout.write(`revoked join token ${id}\n`);
        return ExitCode.Ok;
      }
      case 'serve': {
        const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) return usage(`tandem ca serve: --port: expected a port number, got "${values.port}"`);
        const server = await CaServer.start({ dir, address: values.address ?? '127.0.0.1', port });
        process.stdout.write(`CA listening on https://${values.address ?? '127.0.0.1'}:${server.port}\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await server.close();
        return ExitCode.Ok;
      }
      case 'rotate': {
        const state = await rotateCa(dir);
        process.stdout.write(`new root ${state.signer.certificate.serialNumber} signs from now on; the bundle holds ${state.roots.length} roots (index ${state.bundleIndex})\n`);
        return ExitCode.Ok;
      }
      case 'retire': {
        const before = await openCa(dir);
        const sinceRotation = Date.now() - before.rotatedAt;
        if (before.roots.length > 1 && sinceRotation < before.leafTtlMs) {
          process.stderr.write(
            `warning: the newest root is ${Math.round(sinceRotation / 1000)} s old, less than the leaf TTL; a sidecar that has not re-issued since will be refused\n`,
          );
        }
        const { state, retired } = await retireCa(dir);
        process.stdout.write(retired.length === 0 ? 'nothing to retire: the bundle holds one root\n' : `retired ${retired.join(', ')}; the bundle holds 1 root (index ${state.bundleIndex})\n`);
        return ExitCode.Ok;
      }
      case 'show': {
        const state = await openCa(dir);
        const roots = state.roots.map((root, i) => `  ${i === state.roots.length - 1 ? 'active ' : 'trusted'} ${root.serialNumber} until ${root.notAfter.toISOString()}`);
        process.stdout.write(`trust domain ${state.trustDomain} (${state.keyType}), leaf TTL ${state.leafTtlMs / 1000} s, bundle index ${state.bundleIndex}\n${roots.join('\n')}\n`);
        return ExitCode.Ok;
      }
      default:
        return usage(`tandem ca: unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof CaStoreError || error instanceof SpiffeIdError || error instanceof TokenError) {
      process.stderr.write(`tandem ca ${command}: ${error.message}\n`);
      return ExitCode.Usage;
    }
    throw error;
  }
}

function usage(message: string): number {
  process.stderr.write(`${message}\n\n${CA_USAGE}`);
  return ExitCode.Usage;
}
