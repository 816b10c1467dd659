import { describe, expect, it } from 'vitest';
import { ANNOTATION, AnnotationError, injectChoice, parseInjectorConfig, podSettings } from '../../../injector/index.js';
import { makePod } from '../../helpers/podSpecs.js';

const defaults = parseInjectorConfig({ tls: { dns_names: ['tandem-injector.tandem.svc'] } }).sidecar;

function settingsFor(annotations: Record<string, string>, options: Parameters<typeof makePod>[0] = {}): ReturnType<typeof podSettings> {
  return podSettings(makePod({ ...options, annotations }), defaults);
}

describe('pod annotations', () => {
  it('gives injector.yaml defaults to a pod without annotations, the app port from its first container port', () => {
    const settings = podSettings(makePod({ ports: [8080, 8443], serviceAccountName: 'web-sa' }), defaults);
    expect(settings).toEqual({
      service: 'web-sa',
      appPort: 8080,
      appProtocol: 'http1',
      ports: { inbound: 15006, outbound: 15001, admin: 9901 },
      upstreams: [],
      logLevel: 'info',
      inboundTlsMode: 'permissive',
      nativeSidecar: true,
      excludeInboundPorts: [],
      excludeOutboundPorts: [],
      excludeOutboundCidrs: [],
    });
  });

  it('has no app port when the pod declares none, and names the service after the default account when nothing else does', () => {
    const settings = podSettings(makePod(), defaults);
    expect(settings.appPort).toBeUndefined();
    expect(settings.service).toBe('default');
  });

  it('names the service by annotation, else label app.kubernetes.io/name, else label app', () => {
    expect(settingsFor({ [ANNOTATION.service]: 'orders' }, { labels: { app: 'x', 'app.kubernetes.io/name': 'y' } }).service).toBe('orders');
    expect(podSettings(makePod({ labels: { app: 'x', 'app.kubernetes.io/name': 'y' } }), defaults).service).toBe('y');
    expect(podSettings(makePod({ labels: { app: 'x' } }), defaults).service).toBe('x');
  });

  it('reads every override', () => {
    const settings = settingsFor({
      [ANNOTATION.appPort]: '50051',
      [ANNOTATION.appProtocol]: 'grpc',
      [ANNOTATION.inboundPort]: '16006',
      [ANNOTATION.outboundPort]: '16001',
      [ANNOTATION.adminPort]: '19901',
      [ANNOTATION.upstreams]: 'orders:grpc, payments ,ledger:http2',
      [ANNOTATION.logLevel]: 'debug',
      [ANNOTATION.inboundMode]: 'strict',
      [ANNOTATION.nativeSidecar]: 'false',
      [ANNOTATION.skipInboundPorts]: '8081,9090',
      [ANNOTATION.skipOutboundPorts]: '5432',
      [ANNOTATION.skipOutboundCidrs]: '169.254.169.254/32,fd00::/8',
    });
    expect(settings).toMatchObject({
      appPort: 50051,
      appProtocol: 'grpc',
      ports: { inbound: 16006, outbound: 16001, admin: 19901 },
      upstreams: [
        { name: 'orders', protocol: 'grpc' },
        { name: 'payments', protocol: 'http1' },
        { name: 'ledger', protocol: 'http2' },
      ],
      logLevel: 'debug',
      inboundTlsMode: 'strict',
      nativeSidecar: false,
      excludeInboundPorts: [8081, 9090],
      excludeOutboundPorts: [5432],
      excludeOutboundCidrs: ['169.254.169.254/32', 'fd00::/8'],
    });
  });

  it('adds a pod’s exclusions to injector.yaml’s, never dropping the cluster’s', () => {
    const withCluster = parseInjectorConfig({ tls: { dns_names: ['x.svc'] }, sidecar: { exclude_outbound_cidrs: ['169.254.169.254/32'], exclude_outbound_ports: [25] } }).sidecar;
    const settings = podSettings(makePod({ annotations: { [ANNOTATION.skipOutboundCidrs]: '10.0.0.0/8', [ANNOTATION.skipOutboundPorts]: '5432' } }), withCluster);
    expect(settings.excludeOutboundCidrs).toEqual(['169.254.169.254/32', '10.0.0.0/8']);
    expect(settings.excludeOutboundPorts).toEqual([25, 5432]);
  });

  it.each([
    [ANNOTATION.inboundPort, 'abc', 'a port from 1 to 65535'],
    [ANNOTATION.outboundPort, '70000', 'a port from 1 to 65535'],
    [ANNOTATION.adminPort, '0', 'a port from 1 to 65535'],
    [ANNOTATION.appPort, '80.5', 'a port from 1 to 65535'],
    [ANNOTATION.appProtocol, 'http3', 'one of http1, http2, grpc'],
    [ANNOTATION.service, 'Orders Service', 'a service name'],
    [ANNOTATION.upstreams, 'orders:tcp', 'name[:protocol]'],
    [ANNOTATION.upstreams, 'orders:grpc:x', 'name[:protocol]'],
    [ANNOTATION.upstreams, '-orders', 'name[:protocol]'],
    [ANNOTATION.logLevel, 'trace', 'one of debug, info, warn, error'],
    [ANNOTATION.inboundMode, 'disabled', 'strict or permissive'],
    [ANNOTATION.nativeSidecar, 'yes', '"true" or "false"'],
    [ANNOTATION.skipInboundPorts, '8081,http', 'a comma-separated list of ports'],
    [ANNOTATION.skipOutboundPorts, '5432-5440', 'a comma-separated list of ports'],
    [ANNOTATION.skipOutboundCidrs, '10.0.0.0/33', 'a comma-separated list of CIDRs'],
    [ANNOTATION.skipOutboundCidrs, 'example.com', 'a comma-separated list of CIDRs'],
  ])('refuses %s: %j, naming the annotation and what it expects', (annotation, value, expected) => {
    const read = (): unknown => settingsFor({ [annotation]: value });
    expect(read).toThrow(AnnotationError);
    expect(read).toThrow(`${annotation}: expected `);
    expect(read).toThrow(expected);
    expect(read).toThrow(JSON.stringify(value));
  });

  it('refuses two of Tandem’s ports, or Tandem’s and the app’s, on one number', () => {
    expect(() => settingsFor({ [ANNOTATION.adminPort]: '15006' })).toThrow(`${ANNOTATION.adminPort}: expected a port other than ${ANNOTATION.inboundPort}'s (both are 15006)`);
    expect(() => settingsFor({ [ANNOTATION.appPort]: '15001' })).toThrow(`${ANNOTATION.appPort}: expected a port other than ${ANNOTATION.outboundPort}'s`);
    expect(() => podSettings(makePod({ ports: [9901] }), defaults)).toThrow(`other than ${ANNOTATION.adminPort}'s`);
  });

  it('reads tandem.io/inject as enabled, disabled or unset, and refuses anything else', () => {
    expect(injectChoice(makePod())).toBeUndefined();
    expect(injectChoice(makePod({ annotations: { [ANNOTATION.inject]: 'enabled' } }))).toBe('enabled');
    expect(injectChoice(makePod({ annotations: { [ANNOTATION.inject]: 'disabled' } }))).toBe('disabled');
    expect(() => injectChoice(makePod({ annotations: { [ANNOTATION.inject]: 'true' } }))).toThrow('tandem.io/inject: expected "enabled" or "disabled", got "true"');
  });
});
