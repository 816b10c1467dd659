import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IConfigMap } from 'kubernetes-models/v1';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseInjectorConfig } from '../../../injector/index.js';
import { findObject, renderChart, type ChartValues } from '../../helpers/tandemChart.js';

/**
 * The injector's ConfigMap: `injector.yaml` in the contract's format (snake_case keys), which is also
 * every injected pod's default sidecar configuration, and the checksum that rolls the injector when it
 * changes.
 */

function injectorYaml(values: ChartValues = {}, name = 'tandem-injector'): Record<string, Record<string, unknown>> {
  const configMap = findObject<IConfigMap>(renderChart(values), 'ConfigMap', name);
  expect(Object.keys(configMap.data ?? {})).toEqual(['injector.yaml']);
  return parse(configMap.data?.['injector.yaml'] ?? '') as Record<string, Record<string, unknown>>;
}

function configChecksum(values: ChartValues): string | undefined {
  const injector = findObject<IDeployment>(renderChart(values), 'Deployment', 'tandem-injector');
  return injector.spec?.template.metadata?.annotations?.['checksum/config'];
}

describe('injector.yaml in the injector ConfigMap', () => {
  const config = injectorYaml();

  it('has exactly the contract top-level and sidecar keys', () => {
    expect(Object.keys(config).sort()).toEqual(['listen', 'sidecar', 'tls']);
    expect(Object.keys(config['sidecar'] ?? {}).sort()).toEqual(
      [
        'image',
        'image_pull_policy',
        'resources',
        'uid',
        'ports',
        'inbound_tls_mode',
        'log_level',
        'ca_address',
        'consul_address',
        'join_token_ttl',
        'drain',
        'native_sidecar',
        'exclude_outbound_cidrs',
        'exclude_outbound_ports',
        'exclude_inbound_ports',
      ].sort(),
    );
  });

  it('listens on 0.0.0.0:8443 and serves TLS for the injector Service names from the mounted CA', () => {
    expect(config['listen']).toEqual({ address: '0.0.0.0', port: 8443 });
    expect(config['tls']).toEqual({ ca_dir: '/var/lib/tandem-ca', dns_names: ['tandem-injector.tandem.svc', 'tandem-injector.tandem.svc.cluster.local'] });
  });

  it('gives sidecars the injector\'s own defaults, the chart image and the CA Service address', () => {
    const sidecar = config['sidecar'] ?? {};
    expect(sidecar['image']).toBe('ghcr.io/tandem-mesh/tandem:0.1.0');
    expect(sidecar['ca_address']).toBe('https://tandem-ca.tandem.svc:8443');
    // What the chart says by default is what the injector assumes when it is not said.
    expect(parseInjectorConfig(config).sidecar).toEqual(parseInjectorConfig({ tls: { dns_names: ['tandem-injector.tandem.svc'] } }).sidecar);
  });

  it('is accepted by the injector\'s own parser, with defaults and with every value set', () => {
    const parsed = parseInjectorConfig(config, 'injector.yaml');
    expect(parsed.sidecar.ports).toEqual({ inbound: 15006, outbound: 15001, admin: 9901 });
    const every = injectorYaml({ files: [fileURLToPath(new URL('../../fixtures/chart/every-value.yaml', import.meta.url))] }, 'mesh-injector');
    expect(() => parseInjectorConfig(every, 'injector.yaml (every value set)')).not.toThrow();
  });

  it('names the Services of another release and namespace after them', () => {
    const other = injectorYaml({ namespace: 'mesh-system', set: { fullnameOverride: 'mesh', 'ca.port': '9443' } }, 'mesh-injector');
    expect((other['tls'] ?? {})['dns_names']).toEqual(['mesh-injector.mesh-system.svc', 'mesh-injector.mesh-system.svc.cluster.local']);
    expect((other['sidecar'] ?? {})['ca_address']).toBe('https://mesh-ca.mesh-system.svc:9443');
  });
});

describe('the injector pod template checksum', () => {
  const base = configChecksum({});

  it('is a SHA-256 of the ConfigMap', () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with a sidecar value, so the injector restarts with the new configuration', () => {
    expect(configChecksum({ set: { 'sidecar.logLevel': 'debug' } })).not.toBe(base);
    expect(configChecksum({ set: { 'sidecar.ports.admin': '9902' } })).not.toBe(base);
  });

  it('stays the same for a value that is not in the ConfigMap', () => {
    expect(configChecksum({ set: { 'ca.resources.requests.cpu': '200m' } })).toBe(base);
  });
});
