import { describe, expect, it } from 'vitest';
import { asWorkloadId, parseSpiffeId, SpiffeIdError, trustDomainId, workloadId } from '../../../ca/spiffe.js';

describe('SPIFFE IDs', () => {
  it('parses a workload ID into trust domain, namespace and service', () => {
    const id = asWorkloadId(parseSpiffeId('spiffe://example.org/ns/prod/svc/orders'));
    expect(id).toMatchObject({ trustDomain: 'example.org', namespace: 'prod', service: 'orders', uri: 'spiffe://example.org/ns/prod/svc/orders' });
  });

  it('builds a workload ID in the default namespace', () => {
    expect(workloadId('example.org', 'web').uri).toBe('spiffe://example.org/ns/default/svc/web');
  });

  it.each([
    ['https://example.org/ns/a/svc/b', 'does not start with "spiffe://"'],
    ['spiffe://Example.org/ns/a/svc/b', 'trust domain "Example.org"'],
    ['spiffe://exa mple.org', 'trust domain'],
    ['spiffe://example.org/ns//svc/b', 'empty path segment'],
    ['spiffe://example.org/ns/a/svc/b/', 'empty path segment'],
    ['spiffe://example.org/ns/../svc/b', 'path segment ".."'],
    ['spiffe://example.org/ns/a/svc/b?x=1', 'path segment "b?x=1"'],
    ['spiffe://user@example.org/ns/a', 'trust domain'],
    ['spiffe://example.org:8080/ns/a', 'trust domain'],
    [`spiffe://example.org/${'a'.repeat(2100)}`, 'longer than 2048 bytes'],
  ])('refuses %s: it %s', (text, problem) => {
    expect(() => parseSpiffeId(text)).toThrow(SpiffeIdError);
    expect(() => parseSpiffeId(text)).toThrow(problem);
  });

  it('tells a workload ID from another SPIFFE ID', () => {
    expect(asWorkloadId(parseSpiffeId('spiffe://example.org'))).toBeUndefined();
    expect(asWorkloadId(parseSpiffeId('spiffe://example.org/ns/a/svc/b/extra'))).toBeUndefined();
    expect(asWorkloadId(parseSpiffeId('spiffe://example.org/svc/b/ns/a'))).toBeUndefined();
  });

  it('refuses a service name that would add path segments', () => {
    expect(() => workloadId('example.org', 'web/admin')).toThrow(SpiffeIdError);
  });

  it('gives a trust domain its own ID, without a path', () => {
    expect(trustDomainId('example.org').uri).toBe('spiffe://example.org');
    expect(() => trustDomainId('example.org/x')).toThrow(SpiffeIdError);
  });
});
