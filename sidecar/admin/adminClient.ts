import { request } from 'node:http';

export interface AdminAnswer {
  readonly status: number;
  readonly body: string;
}

/**
 * One request to a sidecar's admin API (the CLI's `wait-ready` and `stat`, a successor's handover):
 * resolves with the status and body, rejects with the connection's error (`code` ECONNREFUSED when
 * nothing listens) or after `timeoutMs` without an answer.
 */
export function adminRequest(url: URL, options: { method?: string; timeoutMs: number }): Promise<AdminAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', timeout: options.timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
