import { describe, expect, it } from 'vitest';
import { ActiveHealthChecker, type ActiveHealthState } from '../../sidecar/health/activeHealthChecker.js';
import type { HealthChecker } from '../../sidecar/health/healthCheck.js';
import { ActiveHealthCheckConfig } from '../../sidecar/health/healthCheckConfig.js';
import { healthCheckKind } from '../../sidecar/health/index.js';
import { setup } from '../../sidecar/setup.js';
import { startHttp1Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { NOT_SERVING, SERVING, startGrpcHealthServer } from '../helpers/grpcHealth.js';
import { waitFor } from '../helpers/wait.js';

setup(); // the built-in plugins, as the CLI registers them

const INTERVAL_MS = 200;
const THRESHOLD = 2;
/** How long a flip may take to show: the probes the threshold needs, plus a second of slack. */
const FLIP_BOUND_MS = INTERVAL_MS * THRESHOLD + 1_000;


/** Checks one endpoint every 200 ms with thresholds 2/2, recording each state change with its streak. */
function watch(check: object, port: number) {
  const settings = ActiveHealthCheckConfig.parse({ ...check, timeout: '150ms', interval: `${INTERVAL_MS}ms`, unhealthy_threshold: THRESHOLD, healthy_threshold: THRESHOLD });
  const kind = healthCheckKind(settings.kind) as NonNullable<ReturnType<typeof healthCheckKind>>;
  const checker: HealthChecker = kind.create(settings.config);
  const changes: Array<{ state: ActiveHealthState; streak: number }> = [];
  const health = new ActiveHealthChecker(settings, checker, {
    random: Math.random,
    checked: (id, _verdict, state, changed) => {
      if (!changed) return;
      const described = health.describe(id);
      changes.push({ state, streak: state === 'healthy' ? (described?.consecutive_successes ?? 0) : (described?.consecutive_failures ?? 0) });
    },
  });
  onCleanup(() => health.stop());
  health.sync([{ id: 'app', address: '127.0.0.1', port }]);
  return { health, changes };
}

/** Waits for `state`, failing past FLIP_BOUND_MS. */
async function until(health: ActiveHealthChecker, state: ActiveHealthState): Promise<void> {
  await waitFor(`endpoint ${state}`, () => health.state('app') === state, FLIP_BOUND_MS);
}

describe('active health checking against real servers', () => {
  it('http: unhealthy within its bound after /health turns 503, healthy again after two passes', async () => {
    let status = 200;
    const app = await startHttp1Backend((req, res) => {
      res.statusCode = req.url === '/health' ? status : 404;
      res.end();
    });
    const { health, changes } = watch({ http: { path: '/health' } }, app.port);
    await until(health, 'healthy');
    status = 503;
    await until(health, 'unhealthy');
    expect(health.describe('app')?.last_result).toBe('HTTP 503 from GET /health');
    status = 200;
    await until(health, 'healthy');
    expect(changes).toEqual([
      { state: 'healthy', streak: 1 },
      { state: 'unhealthy', streak: THRESHOLD },
      { state: 'healthy', streak: THRESHOLD },
    ]);
  });

  it('grpc: unhealthy within its bound after NOT_SERVING, healthy again after two SERVING answers', async () => {
    let serving = SERVING;
    const port = await startGrpcHealthServer(() => serving);
    const { health, changes } = watch({ grpc: { service_name: 'orders' } }, port);
    await until(health, 'healthy');
    serving = NOT_SERVING;
    await until(health, 'unhealthy');
    expect(health.describe('app')?.last_result).toBe('grpc.health.v1 NOT_SERVING');
    serving = SERVING;
    await until(health, 'healthy');
    expect(changes).toEqual([
      { state: 'healthy', streak: 1 },
      { state: 'unhealthy', streak: THRESHOLD },
      { state: 'healthy', streak: THRESHOLD },
    ]);
  });
});
