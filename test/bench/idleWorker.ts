/**
 * Holds idle connections for the edge benchmark (`edge.ts`), in its own process:
 * `node dist/test/bench/idleWorker.js <port> h1|h2c|tls <count>`. Opens `count` connections to
 * 127.0.0.1:<port>, 200 at a time, sends one request on each (`Host: bench.test`; over TLS with SNI
 * bench.test) and keeps the connection once its answer has come: idle keep-alive connections, as a
 * browser or a client pool leaves them. Prints `held <n> failed <m>` and keeps them until SIGTERM or
 * until stdin closes.
 */
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

const [portArg, kind, countArg] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
if (!(port > 0) || !(count > 0) || !['h1', 'h2c', 'tls'].includes(kind as string)) {
  process.stderr.write('usage: idleWorker.js <port> h1|h2c|tls <count>\n');
  process.exit(2);
}
const CONCURRENCY = 200;
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n');
const held: Array<Socket | ClientHttp2Session> = [];
let failed = 0;

/** One HTTP/1.1 exchange on a raw socket; resolves once the response head has arrived (the body is small and follows with it). */
function http1(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (seen.startsWith('HTTP/1.1 200')) resolve();
      else reject(new Error(seen.split('\r\n')[0]));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(REQUEST);
  });
}

function openOne(): Promise<void> {
  if (kind === 'h2c') {
    return new Promise((resolve, reject) => {
      const session = http2Connect(`http://127.0.0.1:${port}`);
      session.once('error', reject);
      const stream = session.request({ ':path': '/', ':authority': 'bench.test' });
      stream.on('response', (head) => (head[':status'] === 200 ? undefined : reject(new Error(`status ${head[':status']}`))));
      stream.resume();
      stream.on('end', () => {
        held.push(session);
        resolve();
      });
      stream.once('error', reject);
      stream.end();
    });
  }
  const socket = kind === 'tls' ? tlsConnect({ host: '127.0.0.1', port, servername: 'bench.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }) : tcpConnect({ host: '127.0.0.1', port });
  return new Promise<void>((resolve, reject) => {
    socket.once(kind === 'tls' ? 'secureConnect' : 'connect', () => void http1(socket).then(resolve, reject));
    socket.once('error', reject);
  }).then(() => void held.push(socket));
}

async function main(): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      await openOne().catch(() => failed++);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  process.stdout.write(`held ${held.length} failed ${failed}\n`);
}

const exit = (): never => process.exit(0);
process.once('SIGTERM', exit);
process.stdin.on('end', exit).on('error', exit).resume();
void main();
