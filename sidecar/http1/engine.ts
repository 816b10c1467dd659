/**
 * Which HTTP/1.1 engine Tandem speaks, to clients and to upstreams: the lean engine in this folder
 * (`lean`, the default since it measured 0.5–0.6× the CPU of a minimal Node pipe and 4.8 KiB per idle
 * connection; docs/benchmarks.md) or Node's `http` server, client and agent (`node`). Read once, from
 * `TANDEM_HTTP1_ENGINE`, when the process starts; anything else is refused then rather than silently
 * ignored.
 */
export type Http1Engine = 'node' | 'lean';

export function http1EngineFrom(value: string | undefined): Http1Engine {
  if (value === undefined || value === '' || value === 'lean') return 'lean';
  if (value === 'node') return 'node';
  throw new Error(`TANDEM_HTTP1_ENGINE must be "node" or "lean", not "${value}"`);
}

export const HTTP1_ENGINE: Http1Engine = http1EngineFrom(process.env['TANDEM_HTTP1_ENGINE']);
