import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../../helpers/cleanup.js';
import { helmLint, helmTemplate } from '../../helpers/tandemChart.js';

/**
 * `helm lint` passes, and values.schema.json stops a bad or misspelt value before anything renders,
 * naming it: a typo never installs a chart that silently ignores it.
 */

describe('helm lint', () => {
  it('passes with the default values', () => {
    const run = helmLint();
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('passes --strict, which fails on warnings too', () => {
    const run = helmLint({}, true);
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
    expect(run.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it('fails on a misspelt value, naming it', () => {
    const run = helmLint({ set: { 'injector.replica': '3' } });
    expect(run.status).not.toBe(0);
    expect(`${run.stdout}${run.stderr}`).toContain("'replica' not allowed");
  });
});

describe('values.schema.json', () => {
  it.each([
    ['an unknown failurePolicy', { 'injector.failurePolicy': 'Sometimes' }, "at '/injector/failurePolicy': value must be one of 'Fail', 'Ignore'"],
    ['an unknown top-level key', { trustDomain: 'cluster.local' }, "additional properties 'trustDomain' not allowed"],
    ['an unknown key deep down', { 'sidecar.drain.wait': '5s' }, "at '/sidecar/drain': additional properties 'wait' not allowed"],
    ['ca.replicas, which is not offered', { 'ca.replicas': '2' }, "at '/ca': additional properties 'replicas' not allowed"],
    ['a duration Tandem cannot read', { 'sidecar.joinTokenTTL': '1day' }, "at '/sidecar/joinTokenTTL'"],
    ['a port out of range', { 'sidecar.ports.inbound': '70000' }, "at '/sidecar/ports/inbound'"],
    ['a string where a port goes', { 'ca.port': 'https' }, "at '/ca/port'"],
    ['an unknown inbound TLS mode', { 'sidecar.inboundTlsMode': 'disabled' }, "at '/sidecar/inboundTlsMode'"],
    ['an unknown log level', { 'sidecar.logLevel': 'trace' }, "at '/sidecar/logLevel'"],
    ['a Consul address without a scheme', { 'consul.address': 'consul:8500' }, "at '/consul/address'"],
    ['a webhook timeout over the API server limit', { 'injector.timeoutSeconds': '31' }, "at '/injector/timeoutSeconds'"],
    ['zero injectors', { 'injector.replicas': '0' }, "at '/injector/replicas'"],
    ['a caBundle that is not PEM', { 'injector.caBundle': 'not-a-certificate' }, "at '/injector/caBundle'"],
    ['an excluded namespace that is not a namespace name', { 'injector.excludeNamespaces[0]': 'Kube_System' }, "at '/injector/excludeNamespaces/0'"],
    ['an excluded CIDR that is not a CIDR', { 'sidecar.excludeOutboundCIDRs[0]': '169.254.169.254' }, "at '/sidecar/excludeOutboundCIDRs/0'"],
    ['an unknown pull policy', { 'image.pullPolicy': 'Sometimes' }, "at '/image/pullPolicy'"],
    ['a misspelt securityContext field', { 'securityContext.readOnlyRootFileSystem': 'true' }, "additional properties 'readOnlyRootFileSystem' not allowed"],
  ])('refuses %s', (_what, set, message) => {
    const run = helmTemplate({ set });
    expect(run.status).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain("values don't meet the specifications of the schema");
    expect(run.stderr).toContain(message);
  });

  it('refuses a misspelt value in a values file too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-chart-values-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'values.yaml');
    writeFileSync(file, 'sidecar:\n  nativesidecar: false\n');
    const run = helmTemplate({ files: [file] });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("at '/sidecar': additional properties 'nativesidecar' not allowed");
  });
});
