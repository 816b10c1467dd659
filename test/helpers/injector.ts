import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { toPem } from '../../ca/keys.js';
import { InjectorServer, parseInjectorConfig } from '../../injector/index.js';
import { setLogSink } from '../../sidecar/core/log.js';
import { createTestCa, type TestCa } from './ca.js';
import { onCleanup } from './cleanup.js';
import { applyPatch, type Operation } from './jsonPatch.js';

/**
 * The injector under test (`tandem injector serve`) and the API server's side of it: AdmissionReviews
 * POSTed over real TLS that trusts only the CA's bundle and checks the Service's DNS name, and the
 * answered patch applied to the pod and validated against the Kubernetes Pod schema.
 */

/** What the API server dials: the injector Service's name (the TLS server name), at 127.0.0.1. */
export const INJECTOR_DNS_NAME = 'tandem-injector.tandem.svc';

export interface TestInjector {
  readonly ca: TestCa;
  readonly bundle: string;
  readonly port: number;
  /** Log lines the injector wrote since it started. */
  readonly logs: string[];
}

/**
 * A fresh CA and the injector serving on 127.0.0.1, port 0, in this process; `sidecar` is injector.yaml's
 * block, `servingTtlMs` the serving certificate's lifetime (30 days unless told).
 */
export async function startInjector(sidecar: Record<string, unknown> = {}, servingTtlMs?: number): Promise<TestInjector> {
  const ca = await createTestCa();
  const logs: string[] = [];
  onCleanup(setLogSink((line) => logs.push(line)));
  const config = parseInjectorConfig({ listen: { address: '127.0.0.1', port: 0 }, tls: { ca_dir: ca.dir, dns_names: [INJECTOR_DNS_NAME, `${INJECTOR_DNS_NAME}.cluster.local`] }, sidecar });
  const server = await InjectorServer.start(config, servingTtlMs);
  onCleanup(() => server.close());
  return { ca, bundle: readFileSync(join(ca.dir, 'bundle.pem'), 'utf8'), port: server.port, logs };
}

export interface WebhookAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  /** The serving certificate (leaf), PEM, as the client received it. */
  readonly servedPem: string;
}

/** POSTs `body` (an object is sent as JSON) to `path` the way the API server would. */
export function postToInjector(port: number, bundle: string, path: string, body: string | object, method = 'POST'): Promise<WebhookAnswer> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', servername: INJECTOR_DNS_NAME, port, method, path, ca: bundle, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        const servedPem = toPem('CERTIFICATE', (res.socket as TLSSocket).getPeerCertificate().raw);
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', text: Buffer.concat(chunks).toString('utf8'), servedPem }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(method === 'GET' ? undefined : payload);
  });
}

export interface ReviewResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: string;
  readonly patch?: string;
  readonly status?: { readonly code: number; readonly message: string };
}

/** The `response` of an AdmissionReview answer (HTTP 200 with JSON, or the test fails). */
export function reviewResponse(answer: WebhookAnswer): ReviewResponse {
  if (answer.status !== 200) throw new Error(`the injector answered ${answer.status}: ${answer.text}`);
  const review = JSON.parse(answer.text) as { apiVersion: string; kind: string; response: ReviewResponse };
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') throw new Error(`not an AdmissionReview v1: ${answer.text.slice(0, 200)}`);
  return review.response;
}

/** `pod` with the response's JSONPatch applied, checked against the Kubernetes core/v1 Pod schema. */
export function patchedPod<T extends object>(pod: T, response: ReviewResponse): PodModel {
  if (response.patchType !== 'JSONPatch' || response.patch === undefined) throw new Error(`no JSONPatch in ${JSON.stringify(response)}`);
  const operations = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
  const patched = new PodModel(applyPatch(pod, operations));
  patched.validate();
  return patched;
}
