import { connect } from 'node:net';
import { z } from 'zod';
import { withDeadline, type HealthCheckKind, type HealthVerdict } from './healthCheck.js';

/** Healthy when a TCP connection opens (Consul's and Envoy's TCP check without payload). */
export const tcpCheck: HealthCheckKind<object> = {
  kind: 'tcp',
  configSchema: z.strictObject({}),
  create: () => ({
    check: (target, timeoutMs) =>
      withDeadline(
        timeoutMs,
        (signal) =>
          new Promise<HealthVerdict>((resolve, reject) => {
            const socket = connect({ host: target.address, port: target.port, signal });
            socket.once('connect', () => {
              socket.destroy();
              resolve({ healthy: true, detail: 'TCP connect ok' });
            });
            socket.once('error', (error) => reject(new Error(`TCP connect: ${error.message}`)));
          }),
      ),
  }),
};
