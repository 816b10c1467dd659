import { describe, expect, it } from 'vitest';
import { InjectorConfigError, parseInjectorConfig } from '../../../injector/index.js';

const DNS = { dns_names: ['tandem-injector.tandem.svc'] };

function problems(document: unknown): readonly string[] {
  try {
    parseInjectorConfig(document);
  } catch (error) {
    if (error instanceof InjectorConfigError) return error.problems;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('injector.yaml', () => {
  it('fills in every default but tls.dns_names', () => {
    const config = parseInjectorConfig({ tls: DNS });
    expect(config.listen).toEqual({ address: '0.0.0.0', port: 8443 });
    expect(config.tls).toEqual({ ca_dir: '/var/lib/tandem-ca', ...DNS });
    expect(JSON.parse(JSON.stringify(config.sidecar))).toEqual({
      image: 'ghcr.io/tandem-mesh/tandem:0.1.0',
      image_pull_policy: 'IfNotPresent',
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      uid: 1337,
      ports: { inbound: 15006, outbound: 15001, admin: 9901 },
      inbound_tls_mode: 'permissive',
      log_level: 'info',
      ca_address: 'https://tandem-ca.tandem.svc:8443',
      consul_address: 'http://consul-server.consul.svc:8500',
      join_token_ttl: '24h',
      drain: { wait_before_drain: '5s', timeout: '30s' },
      native_sidecar: true,
      exclude_outbound_cidrs: [],
      exclude_outbound_ports: [],
      exclude_inbound_ports: [],
    });
  });

  it('requires tls.dns_names', () => {
    expect(problems({})).toEqual(['tls: required (object)']);
    expect(problems({ tls: {} })).toEqual(['tls.dns_names: required (array)']);
    expect(problems({ tls: { dns_names: [] } })).toEqual([expect.stringContaining('tls.dns_names: must name at least one DNS name') as string]);
  });

  it('names the field path of each bad value', () => {
    const found = problems({
        tls: { dns_names: ['Not A Name'] },
        listen: { port: 70000 },
        sidecar: {
          ports: { inbound: 0 },
          uid: 0,
          inbound_tls_mode: 'off',
          ca_address: 'http://ca:8443',
          join_token_ttl: 'soon',
          exclude_outbound_cidrs: ['10.0.0.0/40'],
          drain: { timeout: 30 },
          unknown: true,
        },
      });
    expect(found).toHaveLength(10);
    expect(found).toEqual(expect.arrayContaining([
      'listen.port: must be <= 65535',
      expect.stringMatching(/^tls\.dns_names\[0\]: expected a lowercase DNS name/) as string,
      'sidecar.unknown: unknown key',
      'sidecar.uid: must be >= 1',
      'sidecar.ports.inbound: expected a port from 1 to 65535',
      'sidecar.inbound_tls_mode: expected one of: "strict", "permissive"',
      'sidecar.ca_address: expected an https:// URL',
      expect.stringMatching(/^sidecar\.join_token_ttl: expected a duration/) as string,
      'sidecar.drain.timeout: expected string, got number',
      expect.stringMatching(/^sidecar\.exclude_outbound_cidrs\[0\]: expected a CIDR/) as string,
    ]));
  });

  it('refuses two of Tandem’s ports on one number', () => {
    expect(problems({ tls: DNS, sidecar: { ports: { admin: 15001 } } })).toEqual(['sidecar.ports: inbound, outbound and admin must be three different ports']);
  });
});
