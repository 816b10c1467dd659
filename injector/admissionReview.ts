import { z } from 'zod';
import { describeIssues } from '../sidecar/config/issues.js';
import type { Pod } from './pod.js';
import type { PatchOperation } from './podPatch.js';

/**
 * AdmissionReview v1 (admission.k8s.io/v1), the body the API server POSTs to a webhook and the body
 * it expects back with the same `uid`. Only what the injector reads is checked; the pod's other
 * fields pass through unread.
 */
const API_VERSION = 'admission.k8s.io/v1';

/** A body that is not a review of a pod: answered with HTTP 400 and this reason, as plain text. */
export class ReviewError extends Error {
  override readonly name = 'ReviewError';
}

const Named = z.looseObject({ name: z.string() });
const StringMap = z.record(z.string(), z.string());
const PodShape = z.looseObject({
  metadata: z.looseObject({ name: z.string().optional(), generateName: z.string().optional(), namespace: z.string().optional(), labels: StringMap.optional(), annotations: StringMap.optional() }).optional(),
  spec: z.looseObject({
    containers: z.array(Named.extend({ ports: z.array(z.looseObject({ containerPort: z.number().int(), protocol: z.string().optional() })).optional() })),
    initContainers: z.array(Named).optional(),
    volumes: z.array(Named).optional(),
    serviceAccountName: z.string().optional(),
    serviceAccount: z.string().optional(),
    hostNetwork: z.boolean().optional(),
    terminationGracePeriodSeconds: z.number().int().optional(),
  }),
});

const ReviewShape = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('AdmissionReview'),
  request: z.looseObject({
    uid: z.string().min(1),
    kind: z.looseObject({ group: z.string(), version: z.string(), kind: z.string() }).optional(),
    namespace: z.string().optional(),
    operation: z.string().optional(),
    object: z.unknown(),
  }),
});

export interface AdmissionRequest {
  readonly uid: string;
  /** The pod's namespace: `request.namespace`, since a pod in a CREATE often has no `metadata.namespace`. */
  readonly namespace: string;
  readonly operation: string;
  readonly pod: Pod;
}

/** Parses a review's body. Throws ReviewError saying what is wrong. */
export function parseReview(body: string): AdmissionRequest {
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    throw new ReviewError('the body is not JSON');
  }
  const review = ReviewShape.safeParse(document);
  if (!review.success) throw new ReviewError(`not an AdmissionReview ${API_VERSION}: ${describeIssues(review.error).join('; ')}`);
  const { request } = review.data;
  if (request.kind !== undefined && (request.kind.group !== '' || request.kind.version !== 'v1' || request.kind.kind !== 'Pod')) {
    throw new ReviewError(`the review is for kind ${[request.kind.group, request.kind.version].filter(Boolean).join('/')} ${request.kind.kind}, not v1 Pod`);
  }
  const pod = PodShape.safeParse(request.object);
  if (!pod.success) throw new ReviewError(`request.object is not a Pod: ${describeIssues(pod.error, ['request', 'object']).join('; ')}`);
  return { uid: request.uid, namespace: request.namespace ?? pod.data.metadata?.namespace ?? 'default', operation: request.operation ?? 'CREATE', pod: pod.data };
}

/** Allows the pod, changed by `patch` when given. */
export function allowResponse(uid: string, patch?: readonly PatchOperation[]): object {
  const response: Record<string, unknown> = { uid, allowed: true };
  if (patch !== undefined && patch.length > 0) {
    response['patchType'] = 'JSONPatch';
    response['patch'] = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  return { apiVersion: API_VERSION, kind: 'AdmissionReview', response };
}

/** Refuses the pod: the API server answers its creator 400 with `message`. */
export function refuseResponse(uid: string, message: string): object {
  return { apiVersion: API_VERSION, kind: 'AdmissionReview', response: { uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } } };
}
