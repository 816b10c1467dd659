import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../sidecar/config/load.js';
import { configProblems } from '../../../helpers/config.js';

const ca = { address: 'https://127.0.0.1:8443', token_file: './join-token', bundle_file: './bundle.pem' };
const base = { service: { name: 'web', port: 8080 }, inbound: { port: 15006 } };

describe('identity configuration', () => {
  it('takes certificates from the CA, in the default namespace, for the service the sidecar fronts', () => {
    const { config } = parseConfig({ ...base, identity: { ca } });
    expect(config.identity).toEqual({ namespace: 'default', ca });
  });

  it('takes certificates from watched files instead', () => {
    const files = { cert_file: 'c.pem', key_file: 'k.pem', bundle_file: 'b.pem' };
    expect(parseConfig({ ...base, identity: { files } }).config.identity?.files).toEqual(files);
  });

  it('wants exactly one source of certificates', () => {
    expect(configProblems({ ...base, identity: {} })).toEqual(['identity: expected exactly one of ca (certificates from Tandem\'s CA) or files (certificates managed elsewhere)']);
    expect(configProblems({ ...base, identity: { ca, files: { cert_file: 'c', key_file: 'k', bundle_file: 'b' } } })).toHaveLength(1);
  });

  it('names the field of a CA address that is not https, and of a missing token file', () => {
    expect(configProblems({ ...base, identity: { ca: { ...ca, address: 'http://127.0.0.1:8443' } } })).toEqual(['identity.ca.address: expected an https:// URL']);
    expect(configProblems({ ...base, identity: { ca: { address: ca.address, bundle_file: 'b.pem' } } })[0]).toMatch(/^identity\.ca\.token_file: /);
  });

  it('needs a service name for the SPIFFE ID: identity.service, or the service block', () => {
    expect(configProblems({ identity: { ca } })).toEqual(["identity.service: required when there is no service block (the service this sidecar's identity names)"]);
    expect(parseConfig({ identity: { ca, service: 'batch' } }).config.identity?.service).toBe('batch');
  });

  it('refuses mutual TLS without an identity, on the inbound listener and on an upstream', () => {
    expect(configProblems({ ...base, inbound: { port: 15006, tls: { mode: 'strict' } } })).toEqual(["inbound.tls.mode: strict needs an identity block (this sidecar's certificate)"]);
    const upstream = { ...base, discovery: { static: { file: 'e.yaml' } }, upstreams: [{ name: 'db', tls: { mode: 'mtls' } }] };
    expect(configProblems(upstream)).toEqual(["upstreams[0].tls.mode: mtls needs an identity block (this sidecar's certificate)"]);
  });

  it('wants a CA file for one-way TLS to a service outside the mesh, and keeps server_name to that mode', () => {
    const upstreams = (tls: unknown): unknown => ({ ...base, discovery: { static: { file: 'e.yaml' } }, upstreams: [{ name: 'bank', tls }] });
    expect(configProblems(upstreams({ mode: 'tls' }))).toEqual(['upstreams[0].tls.ca_file: required for mode: tls']);
    expect(configProblems(upstreams({ mode: 'plaintext', server_name: 'bank.example' }))).toEqual(['upstreams[0].tls: ca_file and server_name apply to mode: tls only']);
  });
});
