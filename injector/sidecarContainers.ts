import { ANNOTATION, type PodSettings } from './annotations.js';
import type { SidecarDefaults } from './injectorConfig.js';
import { joinUnique } from './networkLists.js';
import { BOOTSTRAP_VOLUME, INIT_CONTAINER, SIDECAR_CONTAINER } from './pod.js';
import { BOOTSTRAP_DIR, CONFIG_FILE } from './sidecarConfig.js';

/** What Tandem adds to a pod's spec, as Kubernetes objects (what podPatch.ts puts where). */

/** `tandem wait-ready` and `tandem drain` default to this admin port; another one is passed explicitly. */
const DEFAULT_ADMIN_PORT = 9901;
/** The startup probe polls `/ready` every second for up to two minutes before the kubelet restarts Tandem. */
const STARTUP_PERIOD_S = 1;
const STARTUP_FAILURES = 120;
/** Kubernetes' own default grace period; the injector never shortens a pod's. */
const DEFAULT_GRACE_S = 30;
/** Headroom after Tandem's drain timeout, so the kubelet's SIGKILL never lands mid-drain. */
const GRACE_MARGIN_S = 5;

export type K8sObject = Record<string, unknown>;

/** The downward-API volume: the pod's own annotations as the files the sidecar reads. */
export function bootstrapVolume(): K8sObject {
  const item = (path: string, annotation: string): K8sObject => ({ path, fieldRef: { fieldPath: `metadata.annotations['${annotation}']` } });
  return {
    name: BOOTSTRAP_VOLUME,
    downwardAPI: { items: [item('config.yaml', ANNOTATION.config), item('join-token', ANNOTATION.joinToken), item('bundle.pem', ANNOTATION.caBundle)] },
  };
}

/** `tandem-init`: installs the interception rules, as root with only the capabilities iptables needs, then exits. */
export function initContainer(settings: PodSettings, defaults: SidecarDefaults): K8sObject {
  return {
    name: INIT_CONTAINER,
    image: defaults.image,
    imagePullPolicy: defaults.image_pull_policy,
    args: iptablesArgs(settings, defaults),
    resources: defaults.resources,
    securityContext: {
      runAsUser: 0,
      // Overrides a pod-level runAsNonRoot: true, which would otherwise stop the rules being installed.
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
}

/** `tandem iptables install …`: the admin port is always let through, so the kubelet's probes reach Tandem itself. */
export function iptablesArgs(settings: PodSettings, defaults: SidecarDefaults): string[] {
  const args = ['iptables', 'install', '--inbound-port', String(settings.ports.inbound), '--outbound-port', String(settings.ports.outbound), '--proxy-uid', String(defaults.uid)];
  args.push('--exclude-inbound-ports', joinUnique([settings.ports.admin, ...settings.excludeInboundPorts]));
  if (settings.excludeOutboundPorts.length > 0) args.push('--exclude-outbound-ports', joinUnique(settings.excludeOutboundPorts));
  if (settings.excludeOutboundCidrs.length > 0) args.push('--exclude-outbound-cidrs', joinUnique(settings.excludeOutboundCidrs));
  return args;
}

/**
 * `tandem` itself. As a native sidecar (an init container with `restartPolicy: Always`, Kubernetes
 * 1.29+) the kubelet starts the app containers only once its startup probe passes, and stops it after
 * them. The fallback is an ordinary first container whose postStart hook holds the next containers
 * until Tandem is ready (the kubelet starts containers in order and waits for each postStart).
 */
export function sidecarContainer(settings: PodSettings, defaults: SidecarDefaults): K8sObject {
  const admin = settings.ports.admin;
  const adminFlag = admin === DEFAULT_ADMIN_PORT ? [] : ['--admin', `http://127.0.0.1:${admin}`];
  const probe = (path: string): K8sObject => ({ httpGet: { path, port: admin } });
  const container: K8sObject = {
    name: SIDECAR_CONTAINER,
    image: defaults.image,
    imagePullPolicy: defaults.image_pull_policy,
    args: ['sidecar', '-c', CONFIG_FILE],
    ports: [
      { name: 'tandem-inbound', containerPort: settings.ports.inbound, protocol: 'TCP' },
      { name: 'tandem-admin', containerPort: admin, protocol: 'TCP' },
    ],
    readinessProbe: probe('/ready'),
    livenessProbe: probe('/live'),
    lifecycle: { preStop: { exec: { command: ['tandem', 'drain', ...adminFlag] } } },
    resources: defaults.resources,
    securityContext: {
      runAsUser: defaults.uid,
      runAsGroup: defaults.uid,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [{ name: BOOTSTRAP_VOLUME, mountPath: BOOTSTRAP_DIR, readOnly: true }],
  };
  if (settings.nativeSidecar) {
    return { ...container, restartPolicy: 'Always', startupProbe: { ...probe('/ready'), periodSeconds: STARTUP_PERIOD_S, failureThreshold: STARTUP_FAILURES } };
  }
  const lifecycle = container['lifecycle'] as K8sObject;
  return { ...container, lifecycle: { ...lifecycle, postStart: { exec: { command: ['tandem', 'wait-ready', '--timeout', `${STARTUP_PERIOD_S * STARTUP_FAILURES}s`, ...adminFlag] } } } };
}

/** max(the pod's, 30 s, Tandem's whole drain + 5 s): the kubelet waits this long before SIGKILL. */
export function terminationGracePeriod(podSeconds: number | undefined, defaults: SidecarDefaults): number {
  const drainSeconds = Math.ceil((defaults.drain.wait_before_drain.ms + defaults.drain.timeout.ms) / 1000);
  return Math.max(podSeconds ?? DEFAULT_GRACE_S, DEFAULT_GRACE_S, drainSeconds + GRACE_MARGIN_S);
}
