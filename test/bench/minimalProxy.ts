/**
 * The baseline: about the least a Node proxy can do. `node dist/test/bench/minimalProxy.js h1|h2 <port>`
 * forwards everything it receives on a free 127.0.0.1 port to 127.0.0.1:<port> and prints
 * `ready port=<port>`. h1 pipes through `http.request` on a keep-alive agent; h2 (h2c, also gRPC)
 * pipes each server stream into a request on one client session, trailers included. No routing,
 * discovery, retries, timeouts or limits, which is what Tandem is compared against.
 */
import { Agent, createServer as createHttp1Server, request, type IncomingHttpHeaders } from 'node:http';
import {
  connect,
  constants,
  createServer as createHttp2Server,
  type ClientHttp2Session,
  type IncomingHttpHeaders as IncomingHttp2Headers,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { connect as tcpConnect, type AddressInfo, type Server, type Socket } from 'node:net';

const [mode, portArg] = process.argv.slice(2);
const target = Number(portArg);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);
const END_STREAM = constants.NGHTTP2_FLAG_END_STREAM;

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

function h1Proxy(): Server {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  return createHttp1Server((req, res) => {
    const options = { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: endToEnd(req.headers), agent };
    const upstream = request(options, (up) => {
      res.writeHead(up.statusCode ?? 502, endToEnd(up.headers));
      up.pipe(res);
    });
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(upstream);
  });
}

function h2Proxy(): Server {
  let session: ClientHttp2Session | undefined;
  const upstreamSession = (): ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      const created = connect(`http://127.0.0.1:${target}`, { createConnection: () => tcpConnect({ host: '127.0.0.1', port: target, noDelay: true }) });
      created.on('error', () => undefined).once('close', () => session === created && (session = undefined));
      session = created;
    }
    return session;
  };
  const server = createHttp2Server({ settings: { maxConcurrentStreams: 1024 } });
  server.on('connection', (socket: Socket) => socket.setNoDelay(true)); // as Tandem; node:http sets it by default
  server.on('session', (s) => s.on('error', () => undefined));
  server.on('stream', (stream, headers, flags) => {
    stream.on('error', () => undefined);
    const hasBody = (flags & END_STREAM) === 0;
    const upstream = upstreamSession().request(headers, { endStream: !hasBody });
    let trailers: OutgoingHttpHeaders = {};
    upstream.on('response', (head, responseFlags) => {
      if ((responseFlags & END_STREAM) !== 0) return stream.respond(head, { endStream: true }); // trailers-only
      stream.respond(head, { waitForTrailers: true });
      upstream.pipe(stream);
    });
    upstream.on('trailers', (received: IncomingHttp2Headers) => (trailers = received));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    upstream.on('error', () => (stream.headersSent ? stream.close(constants.NGHTTP2_INTERNAL_ERROR) : stream.respond({ ':status': 502 }, { endStream: true })));
    stream.on('close', () => upstream.closed || upstream.close(stream.rstCode ?? constants.NGHTTP2_CANCEL));
    if (hasBody) stream.pipe(upstream);
  });
  return server;
}

if ((mode !== 'h1' && mode !== 'h2') || !(target > 0)) {
  process.stderr.write('usage: minimalProxy.js h1|h2 <upstream port>\n');
  process.exit(2);
}
const server = mode === 'h1' ? h1Proxy() : h2Proxy();
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready port=${(server.address() as AddressInfo).port}\n`));
const exit = (): never => process.exit(0);
process.once('SIGTERM', exit).once('SIGINT', exit);
process.stdin.on('end', exit).on('error', exit).resume(); // the harness holds stdin; gone harness, gone proxy
