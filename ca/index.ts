/** Tandem's built-in certificate authority (DESIGN.md §6): what the CLI and the sidecar use of it. */
export { createCsr } from './csr.js';
export { generateKeys, pemBlocks, privateKeyPem, type KeyType } from './keys.js';
export { CaServer, type CaServerOptions } from './server.js';
export { asWorkloadId, caServerId, parseSpiffeId, trustDomainId, workloadId, type SpiffeId, type WorkloadId } from './spiffe.js';
export { initCa, openCa, retireCa, revokeToken, rotateCa, type CaState } from './store.js';
export { issueToken } from './tokens.js';
