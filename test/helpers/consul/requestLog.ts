import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

/** One request as the server received it; times are `performance.now()` milliseconds. */
export interface RecordedRequest {
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The ACL token as Consul reads it: `?token=`, else `X-Consul-Token`, else `Authorization: Bearer`. */
  readonly token: string | undefined;
  readonly receivedAt: number;
  /** Health and catalog reads: whether the read was parked as a blocking query. Undefined for other requests. */
  readonly blocked: boolean | undefined;
  /** The status sent; undefined while unanswered (held, hung, delayed) or when the client left first. */
  readonly status: number | undefined;
  readonly answeredAt: number | undefined;
}

export type MutableRecordedRequest = { -readonly [K in keyof RecordedRequest]: RecordedRequest[K] };

export function recordRequest(req: IncomingMessage, res: ServerResponse, url: URL): MutableRecordedRequest {
  const record: MutableRecordedRequest = {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    headers: { ...req.headers },
    token: tokenOf(req, url.searchParams),
    receivedAt: performance.now(),
    blocked: undefined,
    status: undefined,
    answeredAt: undefined,
  };
  res.once('finish', () => {
    record.status = res.statusCode;
    record.answeredAt = performance.now();
  });
  return record;
}

/** `parseTokenInternal`. */
function tokenOf(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const fromQuery = query.get('token');
  if (fromQuery !== null && fromQuery !== '') return fromQuery;
  const header = req.headers['x-consul-token'];
  if (typeof header === 'string' && header !== '') return header;
  const [scheme, value] = (req.headers.authorization ?? '').trim().split(/\s+/);
  return scheme?.toLowerCase() === 'bearer' && value !== undefined && value !== '' ? value : undefined;
}
