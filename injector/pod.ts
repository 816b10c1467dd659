/**
 * The parts of a Kubernetes Pod (core/v1) the injector reads. Everything else in the object passes
 * through untouched: the injector answers a JSONPatch, never a rewritten pod. Optional fields may be
 * undefined, as a parsed review gives them.
 */
export interface ContainerPort {
  readonly containerPort: number;
  readonly protocol?: string | undefined;
}

export interface Container {
  readonly name: string;
  readonly ports?: readonly ContainerPort[] | undefined;
}

export interface PodMetadata {
  readonly name?: string | undefined;
  readonly generateName?: string | undefined;
  readonly namespace?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

export interface PodSpec {
  readonly containers: readonly Container[];
  readonly initContainers?: readonly Container[] | undefined;
  readonly volumes?: ReadonlyArray<{ readonly name: string }> | undefined;
  readonly serviceAccountName?: string | undefined;
  /** Deprecated alias of serviceAccountName, still filled in by older clients. */
  readonly serviceAccount?: string | undefined;
  readonly hostNetwork?: boolean | undefined;
  readonly terminationGracePeriodSeconds?: number | undefined;
}

export interface Pod {
  readonly metadata?: PodMetadata | undefined;
  readonly spec: PodSpec;
}

/** The names Tandem adds to a pod; a pod that already has one of them was injected (or collides). */
export const SIDECAR_CONTAINER = 'tandem';
export const INIT_CONTAINER = 'tandem-init';
export const BOOTSTRAP_VOLUME = 'tandem-bootstrap';

/** How a pod is named in logs and messages: a CREATE often has only `generateName` (`web-7d9c-`). */
export function podLabel(pod: Pod, namespace: string): string {
  const name = pod.metadata?.name ?? (pod.metadata?.generateName === undefined ? '(unnamed)' : `${pod.metadata.generateName}*`);
  return `${namespace}/${name}`;
}

/** The service account a pod runs as; the ServiceAccount admission plugin sets it before webhooks run. */
export function serviceAccountOf(pod: Pod): string {
  return pod.spec.serviceAccountName ?? pod.spec.serviceAccount ?? 'default';
}

/** The first TCP port the pod's first app container declares: the default app port. */
export function firstContainerPort(pod: Pod): number | undefined {
  const first = pod.spec.containers[0];
  return first?.ports?.find((port) => port.protocol === undefined || port.protocol === 'TCP')?.containerPort;
}
