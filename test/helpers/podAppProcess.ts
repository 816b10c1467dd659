import { get, createServer as createHttpServer } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';

/**
 * The applications of the interception test's pods, each a process that knows nothing of Tandem:
 *   http-server PORT         answers every request with JSON: the caller's address, the path, the headers
 *   tcp-server PORT          (IPv4 and IPv6) a line protocol that is not HTTP: `PING x` → `PONG x from <caller address>`
 *   http-get URL             one GET; prints `{ status, body }` as JSON and exits
 *   tcp-call HOST PORT TEXT  sends `PING TEXT`, half-closes, prints the answer and exits
 * Servers print `listening` once bound.
 */
const [mode, ...args] = process.argv.slice(2);

function fail(error: Error): never {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

switch (mode) {
  case 'http-server':
    createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ remote: req.socket.remoteAddress, path: req.url, headers: req.headers }));
      });
    }).listen(Number(args[0]), '0.0.0.0', () => process.stdout.write('listening\n'));
    break;
  case 'tcp-server':
    createTcpServer((socket) => {
      let received = '';
      socket.setEncoding('utf8').on('data', (text: string) => (received += text));
      socket.on('end', () => socket.end(`${received.replace(/^PING/, 'PONG').trim()} from ${socket.remoteAddress?.replace(/^::ffff:/, '')}\n`));
      socket.on('error', () => socket.destroy());
    }).listen(Number(args[0]), '::', () => process.stdout.write('listening\n'));
    break;
  case 'http-get':
    get(args[0] as string, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.on('end', () => process.stdout.write(`${JSON.stringify({ status: res.statusCode, body })}\n`));
    }).on('error', fail);
    break;
  case 'tcp-call': {
    const socket = connect({ host: args[0] as string, port: Number(args[1]) }, () => socket.end(`PING ${args[2]}\n`));
    let answer = '';
    socket.setEncoding('utf8').on('data', (text: string) => (answer += text));
    socket.on('end', () => process.stdout.write(answer));
    socket.on('error', fail);
    break;
  }
  default:
    fail(new Error(`unknown mode ${mode}`));
}
