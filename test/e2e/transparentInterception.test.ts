import { chmodSync, chownSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { issueLeaf } from '../../ca/certificates.js';
import { generateKeys, privateKeyPem } from '../../ca/keys.js';
import { parseSpiffeId } from '../../ca/spiffe.js';
import { createTestCa, TRUST_DOMAIN, type TestCa } from '../helpers/ca.js';
import { createPods, natTable, runPodClient, setHosts, startPodServer, type Pod } from '../helpers/pods.js';
import { runCliIn, spawnCli, writeConfig } from '../helpers/processes.js';

/**
 * Transparent interception on a real kernel: two "pods" (network namespaces joined by a veth pair),
 * each with an app that knows nothing of Tandem and a Tandem running as UID 1337, and `tandem iptables
 * install` run in each as the injector's init container would. The client app calls `http://server/`
 * (port 80, a ClusterIP from the pod's /etc/hosts); the call crosses client Tandem → mutual TLS →
 * server Tandem → server app. A raw TCP exchange that is not HTTP crosses the client's Tandem to the
 * other pod's non-HTTP server as it is, over IPv4 and IPv6.
 */

const PROXY_UID = 1337;
const PORTS = { inbound: 15006, outbound: 15001, admin: 9901, app: 8080, raw: 9000 };
/** What `server` resolves to in the client pod: an address no pod has, as a Service's ClusterIP is. */
const CLUSTER_IP = '10.253.0.10';
const NAMESPACE = 'shop';

/** A workload certificate for `service`, in files Tandem (UID 1337) can read. */
async function identityFiles(ca: TestCa, dir: string, service: string): Promise<{ cert_file: string; key_file: string; bundle_file: string }> {
  const keys = await generateKeys('ecdsa-p256');
  const leaf = await issueLeaf(ca.state.signer, { publicKey: keys.publicKey, id: parseSpiffeId(`spiffe://${TRUST_DOMAIN}/ns/${NAMESPACE}/svc/${service}`), ttlMs: 3_600_000 });
  const files = { cert_file: join(dir, `${service}.crt`), key_file: join(dir, `${service}.key`), bundle_file: join(dir, `${service}-bundle.pem`) };
  writeFileSync(files.cert_file, leaf.toString('pem'));
  writeFileSync(files.key_file, await privateKeyPem(keys.privateKey), { mode: 0o600 });
  writeFileSync(files.bundle_file, readFileSync(join(ca.dir, 'bundle.pem')));
  return files;
}

/** Starts Tandem in `pod` as UID 1337 with `config`; resolves once it is ready. */
async function podTandem(pod: Pod, ca: TestCa, service: string, config: Record<string, unknown>, endpoints: Record<string, string[]> = {}): Promise<{ metrics: () => Promise<string> }> {
  const { dir, file } = writeConfig(
    { ...config, admin: { port: PORTS.admin }, discovery: { static: { file: 'endpoints.yaml' } } },
    endpoints,
  );
  const identity = await identityFiles(ca, dir, service);
  writeFileSync(file, `${readFileSync(file, 'utf8')}identity:\n  service: ${service}\n  namespace: ${NAMESPACE}\n  files: ${JSON.stringify(identity)}\n`);
  chmodSync(dir, 0o755);
  chownSync(identity.key_file, PROXY_UID, PROXY_UID);
  const tandem = spawnCli(['sidecar', '-c', file], { netns: pod.name, uid: PROXY_UID });
  const ready = await runCliIn(pod.name, ['wait-ready', '--timeout', '8s']);
  expect(ready.code, `${ready.stderr}\n${tandem.stderr()}`).toBe(0);
  return {
    metrics: async () => {
      const answer = await runPodClient(pod, ['http-get', `http://127.0.0.1:${PORTS.admin}/metrics`]);
      return (JSON.parse(answer.stdout) as { body: string }).body;
    },
  };
}

function counter(metrics: string, name: string, labels: string): number {
  const line = metrics.split('\n').find((candidate) => candidate.startsWith(`${name}{`) && candidate.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('transparent interception between two pods', () => {
  it('an app calls another by service name on port 80 through both Tandems over mutual TLS, raw TCP passes through, and uninstall leaves no rule', async () => {
    const [clientPod, serverPod] = createPods();
    setHosts(clientPod, { server: CLUSTER_IP, 'server.shop.svc.cluster.local': CLUSTER_IP });
    const ca = await createTestCa();
    const pristine = [natTable(clientPod, 4), natTable(clientPod, 6), natTable(serverPod, 4), natTable(serverPod, 6)];

    await startPodServer(serverPod, 'http-server', PORTS.app);
    await startPodServer(serverPod, 'tcp-server', PORTS.raw);
    const server = await podTandem(serverPod, ca, 'server', {
      service: { name: 'server', port: PORTS.app },
      inbound: { address: '0.0.0.0', port: PORTS.inbound, tls: { mode: 'strict' } },
      outbound: { http_proxy_port: PORTS.outbound, transparent: {} },
    });
    const client = await podTandem(
      clientPod,
      ca,
      'client',
      // Dual-stack: the kernel redirects the app's IPv6 connections to [::1].
      { outbound: { address: '::', http_proxy_port: PORTS.outbound, transparent: {} }, upstreams: [{ name: 'server' }] },
      { server: [`${serverPod.address}:${PORTS.inbound}`] },
    );
    // As the injector's init container does; the raw server's port is one Tandem does not take inbound.
    const installs = [
      await runCliIn(clientPod.name, ['iptables', 'install', '--proxy-uid', String(PROXY_UID), '--exclude-inbound-ports', String(PORTS.admin), '--ipv6', 'on']),
      await runCliIn(serverPod.name, ['iptables', 'install', '--proxy-uid', String(PROXY_UID), '--exclude-inbound-ports', `${PORTS.admin},${PORTS.raw}`, '--ipv6', 'on']),
    ];
    for (const install of installs) expect(install.code, install.stderr).toBe(0);

    // HTTP by service name, and by the Kubernetes long name: both Tandems on the way.
    for (const url of ['http://server/hello', 'http://server.shop.svc.cluster.local/long']) {
      const call = await runPodClient(clientPod, ['http-get', url]);
      expect(call.code, call.stderr).toBe(0);
      const { status, body } = JSON.parse(call.stdout) as { status: number; body: string };
      expect(status, body).toBe(200);
      const seen = JSON.parse(body) as { remote: string; path: string; headers: Record<string, string> };
      expect(seen.path).toBe(new URL(url).pathname);
      // The server app is called by its own Tandem, over loopback...
      expect(seen.remote).toBe('127.0.0.1');
      // ...which verified the client's certificate.
      expect(seen.headers['x-forwarded-client-cert']).toMatch(new RegExp(`URI=spiffe://${TRUST_DOMAIN}/ns/${NAMESPACE}/svc/client$`));
    }
    const afterHttp = await client.metrics();
    expect(counter(afterHttp, 'tandem_requests_total', 'listener="outbound.http_proxy",upstream="server",status_class="2xx"')).toBe(2);
    expect(counter(afterHttp, 'tandem_upstream_connections_opened_total', 'upstream="server"')).toBe(1);
    const serverMetrics = await server.metrics();
    expect(counter(serverMetrics, 'tandem_requests_total', 'direction="inbound",listener="inbound",upstream="local_app",status_class="2xx"')).toBe(2);
    expect(counter(serverMetrics, 'tandem_listener_connections', 'listener="inbound",protocol="http2"')).toBe(1);
    // Tandem's own connection to the server pod was not redirected back to itself: had it been, the
    // proxy port would have seen TLS bytes and passed them through.
    expect(afterHttp).not.toMatch(/tandem_passthrough_connections_total\{[^}]*\} [1-9]/);

    // Not HTTP: the client's Tandem joins it to where it was going, half-close and all.
    const raw = await runPodClient(clientPod, ['tcp-call', serverPod.address, String(PORTS.raw), 'hello']);
    expect(raw.code, raw.stderr).toBe(0);
    expect(raw.stdout.trim()).toBe(`PONG hello from ${clientPod.address}`);
    expect(counter(await client.metrics(), 'tandem_passthrough_connections_total', 'reason="not_http"')).toBe(1);
    // And over IPv6, where the original destination is read with IP6T_SO_ORIGINAL_DST.
    const raw6 = await runPodClient(clientPod, ['tcp-call', serverPod.address6, String(PORTS.raw), 'hello6']);
    expect(raw6.code, raw6.stderr).toBe(0);
    expect(raw6.stdout.trim()).toBe(`PONG hello6 from ${clientPod.address6}`);
    expect(counter(await client.metrics(), 'tandem_passthrough_connections_total', 'reason="not_http"')).toBe(2);

    for (const pod of [clientPod, serverPod]) {
      const uninstall = await runCliIn(pod.name, ['iptables', 'uninstall', '--ipv6', 'on']);
      expect(uninstall.code, uninstall.stderr).toBe(0);
    }
    expect([natTable(clientPod, 4), natTable(clientPod, 6), natTable(serverPod, 4), natTable(serverPod, 6)]).toEqual(pristine);
  });
});
