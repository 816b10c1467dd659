import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InjectorServer, parseInjectorConfig } from '../../injector/index.js';
import { setLogSink } from '../../sidecar/core/log.js';
import { createTestCa, TRUST_DOMAIN } from '../helpers/ca.js';
import { onCleanup } from '../helpers/cleanup.js';
import { consulTestServer } from '../helpers/consul/control.js';
import { INJECTOR_DNS_NAME, patchedPod, postToInjector, reviewResponse } from '../helpers/injector.js';
import { createNetns } from '../helpers/netns.js';
import { runPodClient, setHosts, startPodServer, type Pod } from '../helpers/pods.js';
import { makePod, makeReview } from '../helpers/podSpecs.js';
import { runCliIn, spawnCli } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The pod the injector makes, run as a kubelet would run it, on a real kernel: a network namespace as
 * the pod, the "cluster" (the CA, Consul, the injector) on the test's side of its link. Nothing of
 * the injector's output is rewritten: the downward-API files are its annotations, the init container
 * runs its arguments, the sidecar runs as its UID with its configuration mounted where its arguments
 * say, the preStop hook is its command. If the injector, the CA, the sidecar and the interception
 * rules disagree about anything, the app's call fails.
 */

type Container = { readonly name: string; readonly args?: string[]; readonly securityContext?: { readonly runAsUser?: number }; readonly lifecycle?: { preStop?: { exec?: { command?: string[] } } } };

const BOOTSTRAP_MOUNT = '/var/run/tandem';

describe('an injected pod', () => {
  it('comes up as the injector made it: rules installed, certificate from a minted join token, its upstream found in Consul, the app\'s call through Tandem over mutual TLS, and the preStop drain ends Tandem cleanly', async () => {
    const ns = createNetns();
    const pod: Pod = { name: ns.name, address: ns.address, address6: '', exec: ['ip', 'netns', 'exec', ns.name] };

    // The cluster: Consul with the pod's own service at its inbound port, the CA, the injector.
    const consul = await consulTestServer({ host: ns.hostAddress });
    await consul.control.registerInstance('web', 'web-1', 15006, { address: ns.address });
    const ca = await createTestCa();
    const caServer = spawnCli(['ca', 'serve', '--dir', ca.dir, '--address', ns.hostAddress, '--port', '0']);
    await waitFor('the CA to listen', () => /CA listening on https:\/\/\S+/.test(caServer.stdout()), 10_000);
    const caAddress = (/CA listening on (https:\/\/\S+)/.exec(caServer.stdout()) as RegExpExecArray)[1] as string;
    onCleanup(setLogSink(() => undefined)); // the injector's decisions are the patch below
    const injector = await InjectorServer.start(
      parseInjectorConfig({
        listen: { address: '127.0.0.1', port: 0 },
        tls: { ca_dir: ca.dir, dns_names: [INJECTOR_DNS_NAME] },
        sidecar: { ca_address: caAddress, consul_address: consul.address, drain: { wait_before_drain: '1s', timeout: '5s' } },
      }),
    );
    onCleanup(() => injector.close());

    // The API server's review of a Deployment's pod in namespace shop.
    const spec = makePod({ ports: [8080], serviceAccountName: 'web', labels: { app: 'web' }, annotations: { 'tandem.io/upstreams': 'web' } });
    const bundle = readFileSync(join(ca.dir, 'bundle.pem'), 'utf8');
    const patched = patchedPod(spec, reviewResponse(await postToInjector(injector.port, bundle, '/inject/namespace', makeReview(spec, 'shop'))));
    const annotations = patched.metadata?.annotations ?? {};
    const [init, sidecar] = (patched.spec?.initContainers ?? []) as unknown as Container[];
    expect([init?.name, sidecar?.name]).toEqual(['tandem-init', 'tandem']);

    // The kubelet's part: the downward-API volume, the init container, the sidecar, its startup probe.
    const volume = mkdtempSync(join(tmpdir(), 'tandem-bootstrap-'));
    onCleanup(() => rmSync(volume, { recursive: true, force: true }));
    chmodSync(volume, 0o755); // a downward-API volume is readable by the container's user
    for (const [file, annotation] of [['config.yaml', 'tandem.io/config'], ['join-token', 'tandem.io/join-token'], ['bundle.pem', 'tandem.io/ca-bundle']] as const) {
      writeFileSync(join(volume, file), annotations[annotation] ?? '', { mode: 0o644 });
    }
    if (!existsSync(BOOTSTRAP_MOUNT)) {
      mkdirSync(BOOTSTRAP_MOUNT, { recursive: true });
      onCleanup(() => rmdirSync(BOOTSTRAP_MOUNT));
    }
    await startPodServer(pod, 'http-server', 8080);
    const rules = await runCliIn(ns.name, init?.args ?? []);
    expect(rules.code, rules.stderr).toBe(0);
    const tandem = spawnCli(sidecar?.args ?? [], { netns: ns.name, uid: sidecar?.securityContext?.runAsUser ?? -1, bind: { source: volume, target: BOOTSTRAP_MOUNT } });
    const ready = await runCliIn(ns.name, ['wait-ready', '--timeout', '8s']);
    expect(ready.code, `${ready.stderr}\n${tandem.stdout()}\n${tandem.stderr()}`).toBe(0);

    // The app calls its service by name (resolved, as cluster DNS would, to an address the rules
    // intercept: any but loopback); Tandem takes it there — to this very pod's inbound listener.
    setHosts(pod, { 'web.shop.svc.cluster.local': ns.hostAddress });
    const call = await runPodClient(pod, ['http-get', 'http://web.shop.svc.cluster.local/hello']);
    expect(call.code, call.stderr).toBe(0);
    const answer = JSON.parse(call.stdout) as { status: number; body: string };
    expect(answer.status, answer.body).toBe(200);
    const seen = JSON.parse(answer.body) as { remote: string; path: string; headers: Record<string, string> };
    expect(seen.path).toBe('/hello');
    expect(seen.remote).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-client-cert']).toMatch(new RegExp(`URI=spiffe://${TRUST_DOMAIN}/ns/shop/svc/web$`));

    // Termination: the preStop hook, then the drain runs its course and Tandem exits 0.
    const preStop = sidecar?.lifecycle?.preStop?.exec?.command ?? [];
    expect(preStop[0]).toBe('tandem');
    const drain = await runCliIn(ns.name, preStop.slice(1));
    expect(drain.code, drain.stderr).toBe(0);
    expect((await tandem.exited).code, tandem.stderr()).toBe(0);
  });
});
