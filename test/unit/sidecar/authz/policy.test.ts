import { describe, expect, it } from 'vitest';
import { AuthorizationSchema } from '../../../../sidecar/authz/authorizationConfig.js';
import { compilePolicy } from '../../../../sidecar/authz/policy.js';

const td = 'spiffe://mesh.test';
const web = `${td}/ns/default/svc/web`;
const batch = `${td}/ns/jobs/svc/batch`;

function policy(config: unknown): ReturnType<typeof compilePolicy> {
  return compilePolicy(AuthorizationSchema.parse(config));
}

describe('authorization policy', () => {
  it('denies by default when an authorization block is present, and says the default decided', () => {
    expect(policy({})({ caller: web, method: 'GET', path: '/' })).toEqual({ allowed: false, rule: 'default' });
  });

  it('lets an exact caller rule win over a wildcard rule written before it', () => {
    const decide = policy({
      rules: [
        { from: `${td}/ns/*/svc/*`, action: 'deny' },
        { from: web, action: 'allow' },
      ],
    });
    expect(decide({ caller: web, method: 'GET', path: '/' })).toEqual({ allowed: true, rule: 'rules[1]' });
    expect(decide({ caller: batch, method: 'GET', path: '/' })).toEqual({ allowed: false, rule: 'rules[0]' });
  });

  it('prefers fewer wildcard segments', () => {
    const decide = policy({
      default: 'deny',
      rules: [
        { from: `${td}/ns/*/svc/*`, action: 'allow' },
        { from: `${td}/ns/jobs/svc/*`, action: 'deny' },
      ],
    });
    expect(decide({ caller: batch, method: 'GET', path: '/' }).rule).toBe('rules[1]');
    expect(decide({ caller: web, method: 'GET', path: '/' }).rule).toBe('rules[0]');
  });

  it('tries a rule narrowed to methods or paths before a rule about the whole caller', () => {
    const decide = policy({
      rules: [
        { from: web, action: 'allow' },
        { from: web, action: 'deny', methods: ['DELETE'], path_prefix: '/admin' },
      ],
    });
    expect(decide({ caller: web, method: 'DELETE', path: '/admin/users' })).toEqual({ allowed: false, rule: 'rules[1]' });
    expect(decide({ caller: web, method: 'GET', path: '/admin/users' })).toEqual({ allowed: true, rule: 'rules[0]' });
    expect(decide({ caller: web, method: 'DELETE', path: '/orders' })).toEqual({ allowed: true, rule: 'rules[0]' });
  });

  it('puts deny before allow between otherwise equal rules', () => {
    const decide = policy({ default: 'allow', rules: [{ from: web, action: 'allow' }, { from: web, action: 'deny' }] });
    expect(decide({ caller: web, method: 'GET', path: '/' })).toEqual({ allowed: false, rule: 'rules[1]' });
  });

  it('matches a gRPC service, or one of its methods exactly', () => {
    const decide = policy({
      rules: [
        { from: web, action: 'allow', grpc: { service: 'shop.Orders' } },
        { from: web, action: 'deny', grpc: { service: 'shop.Orders', method: 'Delete' } },
      ],
    });
    expect(decide({ caller: web, method: 'POST', path: '/shop.Orders/Get' }).allowed).toBe(true);
    expect(decide({ caller: web, method: 'POST', path: '/shop.Orders/Delete' }).allowed).toBe(false);
    expect(decide({ caller: web, method: 'POST', path: '/shop.Orders/DeleteAll' }).allowed).toBe(true);
    expect(decide({ caller: web, method: 'POST', path: '/shop.OrdersAdmin/Get' })).toEqual({ allowed: false, rule: 'default' });
  });

  it('does not let a wildcard segment match across segments or another trust domain', () => {
    const decide = policy({ rules: [{ from: `${td}/ns/*/svc/web`, action: 'allow' }] });
    expect(decide({ caller: `${td}/ns/a/b/svc/web`, method: 'GET', path: '/' }).allowed).toBe(false);
    expect(decide({ caller: 'spiffe://other.test/ns/default/svc/web', method: 'GET', path: '/' }).allowed).toBe(false);
  });

  it('gives a caller without a verified identity the default', () => {
    const decide = policy({ default: 'allow', rules: [{ from: `${td}/ns/*/svc/*`, action: 'deny' }] });
    expect(decide({ caller: undefined, method: 'GET', path: '/' })).toEqual({ allowed: true, rule: 'default' });
  });

  it('refuses a pattern with a partial wildcard, naming the field', () => {
    const result = AuthorizationSchema.safeParse({ rules: [{ from: `${td}/ns/def*/svc/web`, action: 'allow' }] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['rules', 0, 'from']);
  });
});
