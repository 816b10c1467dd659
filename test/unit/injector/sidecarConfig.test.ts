import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseInjectorConfig, podSettings, renderSidecarConfig, sidecarConfig } from '../../../injector/index.js';
import { parseConfig } from '../../../sidecar/config/load.js';
import { makePod } from '../../helpers/podSpecs.js';

const defaults = parseInjectorConfig({ tls: { dns_names: ['tandem-injector.tandem.svc'] } }).sidecar;
const identity = { serviceAccount: 'web-sa', namespace: 'shop' };

/** The rendered YAML, read back and validated exactly as `tandem sidecar -c` / `tandem validate` would. */
function validated(pod: ReturnType<typeof makePod>): ReturnType<typeof parseConfig>['config'] {
  const yaml = renderSidecarConfig(sidecarConfig(podSettings(pod, defaults), defaults, identity));
  return parseConfig(parse(yaml), 'tandem.io/config').config;
}

describe('per-pod sidecar configuration', () => {
  it('passes Tandem’s own schema for a pod with an app port, fronting it with inbound mTLS', () => {
    const config = validated(makePod({ ports: [8080], labels: { app: 'web' }, annotations: { 'tandem.io/upstreams': 'orders:grpc,payments' } }));
    expect(config.service).toMatchObject({ name: 'web', port: 8080, protocol: 'http1', address: '127.0.0.1' });
    expect(config.admin).toEqual({ address: '0.0.0.0', port: 9901 });
    expect(config.inbound).toMatchObject({ address: '0.0.0.0', port: 15006, tls: { mode: 'permissive' } });
    expect(config.outbound).toMatchObject({ address: '127.0.0.1', http_proxy_port: 15001, transparent: { cluster_domain: 'cluster.local' } });
    expect(config.identity).toEqual({
      service: 'web-sa',
      namespace: 'shop',
      ca: { address: 'https://tandem-ca.tandem.svc:8443', token_file: '/var/run/tandem/join-token', bundle_file: '/var/run/tandem/bundle.pem' },
    });
    expect(config.discovery).toMatchObject({ kind: 'consul', config: { address: 'http://consul-server.consul.svc:8500', registration: { enabled: false } } });
    expect(config.upstreams.map((upstream) => [upstream.name, upstream.protocol])).toEqual([
      ['orders', 'grpc'],
      ['payments', 'http1'],
    ]);
    expect(config.drain.wait_before_drain.ms).toBe(5_000);
    expect(config.drain.timeout.ms).toBe(30_000);
    expect(config.log.level).toBe('info');
  });

  it('passes the schema without an app port: no service block and no inbound listener', () => {
    const config = validated(makePod());
    expect(config.service).toBeUndefined();
    expect(config.inbound).toBeUndefined();
    expect(config.identity?.service).toBe('web-sa');
  });

  it('carries the annotated ports, protocol, inbound mode and log level', () => {
    const config = validated(
      makePod({
        annotations: {
          'tandem.io/app-port': '50051',
          'tandem.io/app-protocol': 'grpc',
          'tandem.io/inbound-port': '16006',
          'tandem.io/outbound-port': '16001',
          'tandem.io/admin-port': '19901',
          'tandem.io/inbound-mode': 'strict',
          'tandem.io/log-level': 'debug',
        },
      }),
    );
    expect(config.service).toMatchObject({ port: 50051, protocol: 'grpc' });
    expect(config.inbound).toMatchObject({ port: 16006, tls: { mode: 'strict' } });
    expect(config.outbound.http_proxy_port).toBe(16001);
    expect(config.admin.port).toBe(19901);
    expect(config.log.level).toBe('debug');
  });
});
