/**
 * The direct baseline of the edge benchmark (`edge.ts`), in its own process:
 * `node dist/test/bench/idleServer.js h1|h2c|tls <certFile> <keyFile>`. A bare Node server answering
 * every request with 200 and the benchmark's body — HTTP/1.1 keep-alive, h2c, or HTTPS (HTTP/1.1 over
 * TLS with the same certificate the gateway serves) — to set beside Tandem for memory per idle
 * connection and TLS handshakes. Prints `ready port=<port>`; exits on SIGTERM or when stdin closes.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import { RESPONSE_BODY } from './constants.js';

const [kind, certFile, keyFile] = process.argv.slice(2);
const answer = (req: IncomingMessage, res: ServerResponse): void => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': RESPONSE_BODY.length });
  res.end(RESPONSE_BODY);
};

let server: Server;
switch (kind) {
  case 'h1':
    server = createHttp1Server({ keepAliveTimeout: 3_600_000 }, answer);
    break;
  case 'tls':
    server = createHttpsServer({ cert: readFileSync(certFile as string), key: readFileSync(keyFile as string), keepAliveTimeout: 3_600_000 }, answer);
    break;
  case 'h2c': {
    const h2 = createHttp2Server();
    h2.on('session', (session) => session.on('error', () => undefined));
    h2.on('stream', (stream) => {
      stream.on('error', () => undefined);
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': RESPONSE_BODY.length });
      stream.end(RESPONSE_BODY);
    });
    server = h2;
    break;
  }
  default:
    process.stderr.write('usage: idleServer.js h1|h2c|tls <certFile> <keyFile>\n');
    process.exit(2);
}
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready port=${(server.address() as AddressInfo).port}\n`));
const exit = (): never => process.exit(0);
process.once('SIGTERM', exit);
process.stdin.on('end', exit).on('error', exit).resume();
