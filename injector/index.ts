/** The Kubernetes sidecar injector (`tandem injector serve`, DESIGN.md §9): what the CLI and tests use of it. */
export { allowResponse, parseReview, refuseResponse, ReviewError, type AdmissionRequest } from './admissionReview.js';
export { ANNOTATION, AnnotationError, injectChoice, podSettings, type PodSettings, type UpstreamChoice } from './annotations.js';
export { decide, type CaCredentials, type Decision, type InjectionPath } from './injection.js';
export { InjectorConfigError, InjectorConfigSchema, loadInjectorConfig, parseInjectorConfig, type InjectorConfig, type SidecarDefaults } from './injectorConfig.js';
export { BOOTSTRAP_VOLUME, INIT_CONTAINER, SIDECAR_CONTAINER, type Pod } from './pod.js';
export { escapePointerToken, podPatch, pointer, type PatchOperation, type PodAdditions } from './podPatch.js';
export { InjectorServer, MAX_BODY_BYTES } from './server.js';
export { issueServingCertificate, renewalDelayMs, SERVING_TTL_MS, type ServingCertificate } from './servingCertificate.js';
export { renderSidecarConfig, sidecarConfig } from './sidecarConfig.js';
export { iptablesArgs, terminationGracePeriod } from './sidecarContainers.js';
