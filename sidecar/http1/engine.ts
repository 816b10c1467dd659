/**
 * Which HTTP/1.1 engine Tandem's upstream pools speak with: Node's `http` client and agent (`node`,
 * the default) or the lean engine in this folder (`lean`). Read once, from `TANDEM_HTTP1_ENGINE`, when
 * the process starts; anything else is refused then rather than silently ignored.
 */
export type Http1Engine = 'node' | 'lean';

export function http1EngineFrom(value: string | undefined): Http1Engine {
  if (value === undefined || value === '' || value === 'node') return 'node';
  if (value === 'lean') return 'lean';
  throw new Error(`TANDEM_HTTP1_ENGINE must be "node" or "lean", not "${value}"`);
}

export const HTTP1_ENGINE: Http1Engine = http1EngineFrom(process.env['TANDEM_HTTP1_ENGINE']);
