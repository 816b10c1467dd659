import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend, startHttp1Backend } from '../helpers/backends.js';
import { meshSidecar, spiffeId as id, startCaProcess, TRUST_DOMAIN } from '../helpers/meshProcesses.js';

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
