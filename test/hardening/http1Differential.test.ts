import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { spawnSidecar } from '../helpers/processes.js';
import { rawExchange } from '../helpers/rawExchange.js';
import { startRecordingBackend } from '../helpers/recordingBackend.js';
import { soakOr } from '../helpers/soak.js';
import { sleep } from '../helpers/wait.js';

/**
 * Request-smuggling differential (reliability-matrix S6): fast-check builds HTTP/1.1 byte streams from
 * the pieces smuggling is made of (Content-Length and Transfer-Encoding in valid, duplicated, padded and
 * folded spellings, bare LFs, bodies with a request hidden in them) and sends each straight to a
 * backend and through the gateway to the same backend. Through Tandem the backend must never parse
 * more requests than it parses from the same bytes itself, nor the hidden `/smuggled` request where it
 * does not read one itself; and the first answer's status class must match the backend's own,
 * except where Tandem is stricter by design (then Tandem refuses what the backend would take).
 */

/** ~30 s under `npm test` (about 12 streams a second, each sent twice); ~4 min under TANDEM_SOAK. */
const NUM_RUNS = soakOr(300, 3_000);
const SEED = Number(process.env.TANDEM_FC_SEED ?? Date.now() % 2 ** 31);

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n';

/** Framing headers, each as it is spelt on the wire. */
const framing = fc.constantFrom(
  'Content-Length: 5',
  'Content-Length: 0',
  'Content-Length: 44',
  'Content-Length: 5\r\nContent-Length: 5',
  'Content-Length: +5',
  'Content-Length:  5 ',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: Chunked',
  'Transfer-Encoding:  chunked ',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked, gzip',
  'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
  'Transfer-Encoding : chunked',
  'Transfer-Encoding: x\r\n chunked',
  'Transfer-Encoding: xchunked',
  'X-Note: chunked',
);

const body = fc.constantFrom('', 'hello', '5\r\nhello\r\n0\r\n\r\n', '0\r\n\r\n', `0\r\n\r\n${SMUGGLED}`, `5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`, `hello${SMUGGLED}`, '5;ext\r\nhello\r\n0\r\n\r\n');

const stream = fc
  .record({
    method: fc.constantFrom('GET', 'POST'),
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'),
    host: fc.constantFrom(true, true, true, true, true, true, true, true, false),
    framing: fc.array(framing, { maxLength: 2 }),
    bareLf: fc.boolean(),
    body,
  })
  .map((parts) => {
    const eol = (line: string): string => `${line}${parts.bareLf && line.startsWith('Transfer') ? '\n' : '\r\n'}`;
    const lines = [`${parts.method} /case ${parts.version}`, ...(parts.host ? ['Host: app'] : []), ...parts.framing];
    return { parts, bytes: `${lines.map(eol).join('')}\r\n${parts.body}` };
  });

/** Tandem refuses what the backend (Node, alone) accepts: a transfer coding other than `chunked`, or Transfer-Encoding on HTTP/1.0. */
function tandemStricter(bytes: string): boolean {
  const head = bytes.slice(0, bytes.search(/\r?\n\r?\n/));
  const codings = /^transfer-encoding:(.*)$/im.exec(head)?.[1];
  if (codings === undefined) return false;
  return /^\S+ \S+ HTTP\/1\.0/.test(head) || codings.trim().toLowerCase() !== 'chunked';
}

const classOf = (status: number | undefined): string => (status === undefined ? 'none' : `${Math.floor(status / 100)}xx`);

describe('S6 request-smuggling differential', () => {
  it('Tandem never makes the backend read more requests, or the hidden one, than the bytes hold for it; status classes match', { timeout: soakOr(90_000, 600_000) }, async () => {
    const backend = await startRecordingBackend();
    const sidecar = await spawnSidecar(
      { upstreams: [{ name: 'web' }], gateways: [{ name: 'edge', address: '127.0.0.1', routes: [{ upstream: 'web' }], headers_with_underscores: 'allow' }] },
      { web: [backend.endpoint] },
    );
    const port = sidecar.port('gateway.edge');
    const options = { waitMs: 400, settleMs: 80 };
    let cases = 0;
    const property = fc.asyncProperty(stream, async ({ bytes }) => {
      cases++;
      const beforeDirect = backend.requests.length;
      const direct = await rawExchange(backend.port, bytes, options);
      await sleep(10);
      const beforeProxied = backend.requests.length;
      const parsed = backend.requests.slice(beforeDirect, beforeProxied);
      const proxied = await rawExchange(port, bytes, options);
      await sleep(20);
      const forwarded = backend.requests.slice(beforeProxied);
      const smuggled = (requests: typeof forwarded): number => requests.filter((request) => request.url === '/smuggled').length;
      const context = `${JSON.stringify(bytes)}: direct ${JSON.stringify(direct.statuses)} (parsed ${parsed.map((r) => r.url).join(', ')}), via Tandem ${JSON.stringify(proxied.statuses)} (forwarded ${forwarded.map((r) => r.url).join(', ')})`;
      // Never more requests than the backend reads in the same bytes itself, and never the hidden
      // request where the backend itself reads it as body or refuses the stream first.
      expect(forwarded.length, context).toBeLessThanOrEqual(parsed.length);
      expect(smuggled(forwarded), context).toBeLessThanOrEqual(smuggled(parsed));
      const directClass = classOf(direct.statuses[0]);
      const proxiedClass = classOf(proxied.statuses[0]);
      // Stricter: Tandem refuses, whether the backend answered or waited for a body it framed otherwise.
      if (tandemStricter(bytes)) expect(['4xx', '5xx'], context).toContain(proxiedClass);
      else expect(proxiedClass, context).toBe(directClass);
    });
    try {
      await fc.assert(property, { numRuns: NUM_RUNS, seed: SEED, endOnFailure: true });
    } catch (error) {
      throw new Error(`S6 failed with seed ${SEED} (TANDEM_FC_SEED=${SEED} replays it): ${(error as Error).message}`, { cause: error });
    }
    console.log(`[S6] ${cases} streams (seed ${SEED}), backend parsed ${backend.requests.length} requests in all, /smuggled ones ${backend.requests.filter((r) => r.url === '/smuggled').length}`);
  });
});
