import { SpiffeIdError, workloadId } from '../ca/spiffe.js';
import { issueToken } from '../ca/tokens.js';
import { ConfigError, parseConfig } from '../sidecar/config/load.js';
import { ANNOTATION, AnnotationError, injectChoice, podSettings } from './annotations.js';
import type { SidecarDefaults } from './injectorConfig.js';
import { BOOTSTRAP_VOLUME, INIT_CONTAINER, SIDECAR_CONTAINER, serviceAccountOf, type Pod } from './pod.js';
import { podPatch, type PatchOperation } from './podPatch.js';
import { renderSidecarConfig, sidecarConfig } from './sidecarConfig.js';
import { bootstrapVolume, initContainer, sidecarContainer, terminationGracePeriod } from './sidecarContainers.js';

/**
 * The webhook's two paths (the chart's two webhooks): `namespace` sees pods of namespaces labelled
 * `tandem.io/inject=enabled`, which are injected unless they opt out; `pod` sees pods of unlabelled
 * namespaces, which are injected only when they opt in.
 */
export type InjectionPath = 'namespace' | 'pod';

/** What injection needs of the CA: who it is, the join-token secret, and the bundle sidecars trust it by. */
export interface CaCredentials {
  readonly trustDomain: string;
  readonly tokenSecret: Buffer;
  readonly bundlePem: string;
}

export type Decision =
  | { readonly kind: 'inject'; readonly patch: PatchOperation[]; readonly spiffeId: string; readonly tokenId: string; readonly service: string; readonly nativeSidecar: boolean }
  | { readonly kind: 'skip'; readonly reason: string }
  /** The pod asks for something Tandem cannot give it: the API server refuses the pod with this message. */
  | { readonly kind: 'refuse'; readonly message: string };

/** Decides one pod of a CREATE review and, if it is to be injected, builds its patch and mints its join token. */
export function decide(path: InjectionPath, pod: Pod, namespace: string, defaults: SidecarDefaults, ca: CaCredentials, now = Date.now()): Decision {
  const skip = skipReason(path, pod);
  if (skip !== undefined) return skip;
  const collision = [...(pod.spec.initContainers ?? []), ...(pod.spec.volumes ?? [])].find((item) => item.name === INIT_CONTAINER || item.name === BOOTSTRAP_VOLUME);
  if (collision !== undefined) return { kind: 'refuse', message: `the pod already has an init container or volume named "${collision.name}", which Tandem adds` };
  let settings;
  let id;
  try {
    settings = podSettings(pod, defaults);
    id = workloadId(ca.trustDomain, serviceAccountOf(pod), namespace);
  } catch (error) {
    if (error instanceof AnnotationError || error instanceof SpiffeIdError) return { kind: 'refuse', message: error.message };
    throw error;
  }
  const config = sidecarConfig(settings, defaults, { serviceAccount: id.service, namespace: id.namespace });
  try {
    // The sidecar's own validation, so a pod never starts with a configuration its sidecar would refuse.
    parseConfig(config, ANNOTATION.config);
  } catch (error) {
    if (error instanceof ConfigError) return { kind: 'refuse', message: `the sidecar configuration for this pod is invalid: ${error.problems.join('; ')}` };
    throw error;
  }
  const { token, claims } = issueToken(ca.tokenSecret, id.uri, defaults.join_token_ttl.ms, now);
  const sidecar = sidecarContainer(settings, defaults);
  const patch = podPatch(pod, {
    annotations: {
      [ANNOTATION.injected]: 'true',
      [ANNOTATION.config]: renderSidecarConfig(config),
      [ANNOTATION.joinToken]: token,
      [ANNOTATION.caBundle]: ca.bundlePem,
    },
    volumes: [bootstrapVolume()],
    initContainers: settings.nativeSidecar ? [initContainer(settings, defaults), sidecar] : [initContainer(settings, defaults)],
    containers: settings.nativeSidecar ? [] : [sidecar],
    terminationGracePeriodSeconds: terminationGracePeriod(pod.spec.terminationGracePeriodSeconds, defaults),
  });
  return { kind: 'inject', patch, spiffeId: id.uri, tokenId: claims.id, service: settings.service, nativeSidecar: settings.nativeSidecar };
}

/** Why a pod is left as it is, or undefined when it is to be injected (throws nothing: a bad opt-in value is a refusal). */
function skipReason(path: InjectionPath, pod: Pod): Decision | undefined {
  const containers = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  if (pod.metadata?.annotations?.[ANNOTATION.injected] !== undefined || containers.some((container) => container.name === SIDECAR_CONTAINER)) {
    return { kind: 'skip', reason: 'already injected' };
  }
  let choice;
  try {
    choice = injectChoice(pod);
  } catch (error) {
    if (error instanceof AnnotationError) return { kind: 'refuse', message: error.message };
    throw error;
  }
  if (path === 'namespace' && choice === 'disabled') return { kind: 'skip', reason: `opted out (${ANNOTATION.inject}: disabled)` };
  if (path === 'pod' && choice !== 'enabled') return { kind: 'skip', reason: `not opted in (${ANNOTATION.inject}: ${choice ?? 'not set'})` };
  // The pod shares the node's network namespace: interception rules would capture the node's own traffic.
  if (pod.spec.hostNetwork === true) return { kind: 'skip', reason: 'hostNetwork pod (iptables rules would apply to the node)' };
  return undefined;
}
