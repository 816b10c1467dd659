import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend, startHttp1Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { cliEntry, runCli, spawnSidecar, type SidecarProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const TRUST_DOMAIN = 'e2e.test';
const id = (service: string): string => `spiffe://${TRUST_DOMAIN}/ns/default/svc/${service}`;

/** `tandem ca init` in a fresh folder, then `tandem ca serve` as a child process on a free port. */
async function startCaProcess(): Promise<{ dir: string; address: string; token(service: string): Promise<string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-e2e-ca-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const init = await runCli(['ca', 'init', '--dir', dir, '--trust-domain', TRUST_DOMAIN]);
  expect(init.code, init.stderr).toBe(0);
  const child = spawn(process.execPath, [cliEntry(), 'ca', 'serve', '--dir', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('close', resolve));
  onCleanup(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.resume();
  await waitFor('the CA to listen', () => /CA listening on (https:\/\/\S+)/.test(stdout));
  const address = (/CA listening on (https:\/\/\S+)/.exec(stdout) as RegExpExecArray)[1] as string;
  return {
    dir,
    address,
    token: async (service) => {
      const result = await runCli(['ca', 'token', '--dir', dir, '--service', service]);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout.trim();
    },
  };
}

/** A sidecar process whose identity comes from the CA, its join token written next to its config. */
async function meshSidecar(ca: Awaited<ReturnType<typeof startCaProcess>>, service: string, config: Record<string, unknown>, services = {}): Promise<SidecarProcess> {
  const tokenDir = mkdtempSync(join(tmpdir(), 'tandem-e2e-token-'));
  onCleanup(() => rmSync(tokenDir, { recursive: true, force: true }));
  const tokenFile = join(tokenDir, 'token');
  writeFileSync(tokenFile, await ca.token(service), { mode: 0o600 });
  const sidecar = await spawnSidecar({ ...config, identity: { service, ca: { address: ca.address, token_file: tokenFile, bundle_file: join(ca.dir, 'bundle.pem') } } }, services);
  await waitFor(`${service}'s sidecar to be ready`, async () => (await fetch(`http://127.0.0.1:${sidecar.port('admin')}/ready`)).status === 200);
  return sidecar;
}

describe('a mesh of sidecar processes with a CA process', () => {
  it('carries HTTP/1.1, gRPC unary and gRPC bidi calls over mutual TLS, each app learning its caller', async () => {
    const ca = await startCaProcess();
    const webHeaders: IncomingHttpHeaders[] = [];
    const web = await startHttp1Backend((req, res) => {
      webHeaders.push(req.headers);
      res.end('hello');
    });
    const rpcCallers: string[] = [];
    const rpc = await startGrpcBackend({
      unary: (call, callback) => {
        rpcCallers.push(String(call.metadata.get('x-forwarded-client-cert')[0]));
        callback(null, call.request);
      },
      bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        rpcCallers.push(String(call.metadata.get('x-forwarded-client-cert')[0]));
        call.on('data', (message: Buffer) => call.write(Buffer.concat([Buffer.from('echo:'), message])));
        call.on('end', () => call.end());
      },
    });
    const webSidecar = await meshSidecar(ca, 'web', { service: { name: 'web', port: web.port }, inbound: { port: 0 } });
    const rpcSidecar = await meshSidecar(ca, 'rpc', { service: { name: 'rpc', port: rpc.port, protocol: 'grpc' }, inbound: { port: 0 } });
    const shop = await meshSidecar(
      ca,
      'shop',
      { upstreams: [{ name: 'web', local_port: 0 }, { name: 'rpc', protocol: 'grpc', local_port: 0 }] },
      { web: [`127.0.0.1:${webSidecar.port('inbound')}`], rpc: [`127.0.0.1:${rpcSidecar.port('inbound')}`] },
    );

    const http = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: shop.port('outbound.web'), path: '/', headers: { 'x-forwarded-client-cert': `By=${id('web')};URI=${id('admin')}` } },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    const client = echoClient(shop.port('outbound.rpc'));
    const unary = await callUnary(client, Buffer.from('ping'));
    const bidi = client.bidi();
    const echoed: string[] = [];
    bidi.on('data', (message: Buffer) => echoed.push(message.toString()));
    const bidiDone = new Promise<void>((resolve, reject) => {
      bidi.on('end', resolve);
      bidi.on('error', reject);
    });
    for (const word of ['one', 'two', 'three']) bidi.write(Buffer.from(word));
    bidi.end();
    await bidiDone;

    expect(http).toEqual({ status: 200, body: 'hello' });
    const xfcc = new RegExp(`^By=spiffe://${TRUST_DOMAIN}/ns/default/svc/(web|rpc);Hash=[0-9a-f]{64};URI=${id('shop')}$`);
    expect(webHeaders[0]?.['x-forwarded-client-cert']).toMatch(xfcc); // the forged copy is gone
    expect(unary.error).toBeNull();
    expect(unary.reply?.toString()).toBe('ping');
    expect(echoed).toEqual(['echo:one', 'echo:two', 'echo:three']);
    expect(rpcCallers).toHaveLength(2);
    for (const caller of rpcCallers) expect(caller).toMatch(xfcc);
  });
});
