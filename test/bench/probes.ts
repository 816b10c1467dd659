import { request } from 'node:http';
import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { GRPC_MESSAGE, GRPC_PATH, RESPONSE_BODY } from './constants.js';

/**
 * One request through a target before it is loaded, checking the answer end to end (for gRPC that
 * includes grpc-status in the trailers, which h2load cannot check). A target that fails its probe is
 * not benchmarked.
 */

const PROBE_TIMEOUT_MS = 5_000;

export function probeHttp1(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        if (res.statusCode === 200 && body.equals(RESPONSE_BODY)) resolve();
        else reject(new Error(`h1 probe on port ${port}: status ${res.statusCode}, ${body.length} body bytes`));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`h1 probe on port ${port}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export function probeHttp2(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => finish(new Error(`h2c probe on port ${port}: timed out`)), PROBE_TIMEOUT_MS);
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      session.destroy();
      if (error === undefined) resolve();
      else reject(error);
    };
    session.on('error', finish);
    const stream = session.request({ ':path': '/' });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', finish);
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      finish(status === 200 && body.equals(RESPONSE_BODY) ? undefined : new Error(`h2c probe on port ${port}: status ${status}, ${body.length} body bytes`));
    });
  });
}

const bytes = (buffer: Buffer): Buffer => buffer;
export function probeGrpc(port: number): Promise<void> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<void>((resolve, reject) => {
    const deadline = new Date(Date.now() + PROBE_TIMEOUT_MS);
    client.makeUnaryRequest(GRPC_PATH, bytes, bytes, GRPC_MESSAGE, new grpc.Metadata(), { deadline }, (error, reply?: Buffer) => {
      if (error !== null) reject(new Error(`gRPC probe on port ${port}: ${error.message}`));
      else if (reply === undefined || !reply.equals(GRPC_MESSAGE)) reject(new Error(`gRPC probe on port ${port}: wrong reply`));
      else resolve();
    });
  }).finally(() => client.close());
}
