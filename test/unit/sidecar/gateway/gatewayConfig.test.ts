import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../sidecar/config/load.js';
import { configProblems } from '../../../helpers/config.js';

const base = { discovery: { static: { file: './endpoints.yaml' } }, upstreams: [{ name: 'web' }, { name: 'api' }] };
const certificate = { cert_file: 'site.crt', key_file: 'site.key' };

function problems(gateway: Record<string, unknown>): readonly string[] {
  return configProblems({ ...base, gateways: [{ name: 'edge', port: 8443, routes: [{ upstream: 'web' }], ...gateway }] });
}

describe('gateway configuration', () => {
  it('fills in defaults: every address, TLS 1.2 up, ticket keys rotated hourly, the first certificate as default', () => {
    const { config } = parseConfig({ ...base, gateways: [{ name: 'edge', port: 8443, tls: { certificates: [{ server_names: ['Shop.Example.com'], ...certificate }] }, routes: [{ upstream: 'web' }] }] });
    const gateway = config.gateways[0];
    expect(gateway?.address).toBe('0.0.0.0');
    expect(gateway?.tls).toMatchObject({ min_version: 'TLSv1.2', certificates: [{ server_names: ['shop.example.com'], default: false }] });
    expect(gateway?.tls?.session_ticket_key_rotation.ms).toBe(3_600_000);
    expect(gateway?.request_headers_timeout.ms).toBe(10_000);
    expect(gateway?.routes[0]?.match).toEqual({ headers: [] });
    // Stricter than a sidecar's listeners, which serve their own app and mesh peers.
    expect(gateway).toMatchObject({ max_connections: 100_000, max_request_headers_kb: 60, max_headers_count: 100, headers_with_underscores: 'reject', max_concurrent_streams: 100 });
    expect(config.outbound).toMatchObject({ max_connections: 100_000, max_request_headers_kb: 60, max_headers_count: 100, headers_with_underscores: 'allow', max_concurrent_streams: 1024 });
  });

  it('names the route field that points at an upstream that is not declared', () => {
    expect(problems({ routes: [{ upstream: 'web' }, { weighted: [{ upstream: 'web', weight: 9 }, { upstream: 'nope', weight: 1 }] }] })).toEqual([
      'gateways[0].routes[1].weighted[1].upstream: no upstream "nope"; declared: web, api',
    ]);
  });

  it('refuses routes that cannot mean one thing', () => {
    expect(problems({ routes: [{ upstream: 'web', weighted: [{ upstream: 'api', weight: 1 }] }] })).toEqual(['gateways[0].routes[0]: give exactly one of upstream and weighted']);
    expect(problems({ routes: [{ weighted: [{ upstream: 'api', weight: 0 }] }] })).toEqual(['gateways[0].routes[0].weighted: at least one weight must be above 0']);
    expect(problems({ routes: [{ upstream: 'web', prefix_rewrite: '/' }] })).toEqual(['gateways[0].routes[0].prefix_rewrite: needs match.prefix (the part it replaces)']);
    expect(problems({ routes: [{ upstream: 'web', match: { prefix: '/a', regex: '/b' } }] })).toEqual(['gateways[0].routes[0].match: give at most one of prefix, path and regex']);
    expect(problems({ routes: [{ upstream: 'web', match: { regex: '(' } }] })).toEqual(['gateways[0].routes[0].match.regex: not a valid regular expression']);
    expect(problems({ routes: [{ upstream: 'web', match: { headers: [{ name: 'x-canary' }] } }] })).toEqual(['gateways[0].routes[0].match.headers[0]: give exactly one of exact, regex or present']);
    expect(problems({ routes: [] })).toEqual(['gateways[0].routes: give at least one route']);
  });

  it('refuses certificate sets that are ambiguous, and a redirect with nothing to redirect to', () => {
    const twice = { certificates: [{ server_names: ['a.test'], ...certificate, default: true }, { server_names: ['a.test'], ...certificate, default: true }] };
    expect(problems({ tls: twice })).toEqual([
      'gateways[0].tls.certificates[1].default: certificates[0] is already the default',
      'gateways[0].tls.certificates[1].server_names[0]: "a.test" is already served by certificates[0]',
    ]);
    expect(problems({ tls: { certificates: [{ server_names: ['*.*.test'], ...certificate }] } })).toEqual([
      'gateways[0].tls.certificates[0].server_names[0]: expected a DNS name, or *. and a DNS name',
    ]);
    expect(problems({ redirect_http: { port: 8080 } })).toEqual(['gateways[0].redirect_http: needs tls (it redirects to it)']);
  });

  it('claims its ports against every other listener', () => {
    expect(configProblems({ ...base, admin: { port: 8443 }, gateways: [{ name: 'edge', port: 8443, routes: [{ upstream: 'web' }] }] })).toEqual([
      'gateways[0].port: port 8443 is already used by admin.port',
    ]);
  });
});
