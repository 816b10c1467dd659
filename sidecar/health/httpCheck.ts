import { request } from 'node:http';
import { z } from 'zod';
import { withDeadline, type HealthCheckKind, type HealthVerdict } from './healthCheck.js';

const HttpCheckConfig = z.strictObject({
  path: z.string().startsWith('/', 'expected a path starting with "/"').default('/'),
  /** Statuses that count as healthy, as inclusive [from, to] ranges; default any 2xx (Consul's rule). */
  expected_statuses: z
    .array(z.tuple([z.int().min(100).max(599), z.int().min(100).max(599)]))
    .min(1)
    .default([[200, 299]]),
});
type HttpCheckConfig = z.infer<typeof HttpCheckConfig>;

/** An HTTP/1.1 GET of `path`; healthy when the status is in `expected_statuses`. */
export const httpCheck: HealthCheckKind<HttpCheckConfig> = {
  kind: 'http',
  configSchema: HttpCheckConfig,
  create: (config) => ({
    check: (target, timeoutMs) =>
      withDeadline(
        timeoutMs,
        (signal) =>
          new Promise<HealthVerdict>((resolve, reject) => {
            const req = request({ host: target.address, port: target.port, path: config.path, method: 'GET', agent: false, signal, headers: { 'user-agent': 'tandem-health-check' } }, (res) => {
              res.resume();
              const status = res.statusCode ?? 0;
              const healthy = config.expected_statuses.some(([from, to]) => status >= from && status <= to);
              resolve({ healthy, detail: `HTTP ${status} from GET ${config.path}` });
            });
            req.once('error', (error) => reject(new Error(`GET ${config.path}: ${error.message}`)));
            req.end();
          }),
      ),
  }),
};
