import type { IncomingMessage, ServerResponse } from 'node:http';
import { startHttp1Backend, type Http1Backend } from './backends.js';

/** One request as the backend's parser saw it. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  /** Body bytes read so far. */
  bodyBytes: number;
  /** The whole request arrived (its framing said so). */
  complete: boolean;
  /** Its connection went before the request was complete (the proxy cancelled it). */
  aborted: boolean;
  /** Local port of the proxy's connection it came on. */
  readonly remotePort: number;
}

/**
 * An HTTP/1.1 backend (Node's parser) that records every request it parses and every raw byte it
 * receives: what a proxy let through, to be counted by the attack tests.
 */
export interface RecordingBackend extends Http1Backend {
  readonly requests: readonly RecordedRequest[];
  /** Raw bytes received on all connections. */
  rawBytes(): number;
  /** Requests whose body is still arriving on an open connection. */
  inFlight(): number;
}

/** `respond` answers every request once its body has been read (200 `ok` unless given). */
export async function startRecordingBackend(respond: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('ok')): Promise<RecordingBackend> {
  const requests: RecordedRequest[] = [];
  let raw = 0;
  const backend = await startHttp1Backend((req, res) => {
    const record: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: 0, complete: false, aborted: false, remotePort: req.socket.remotePort ?? 0 };
    requests.push(record);
    req.on('data', (chunk: Buffer) => (record.bodyBytes += chunk.length));
    req.on('end', () => {
      record.complete = true;
      respond(req, res);
    });
    req.on('close', () => {
      if (!record.complete) record.aborted = true;
    });
    req.on('error', () => undefined);
  });
  backend.server.on('connection', (socket) => socket.on('data', (chunk: Buffer) => (raw += chunk.length)));
  return Object.assign(backend, {
    requests,
    rawBytes: () => raw,
    inFlight: () => requests.filter((request) => !request.complete && !request.aborted).length,
  });
}
