import { z } from 'zod';
import { ServiceName } from '../config/fields.js';

/** A namespace in a SPIFFE ID: one path segment. */
const Namespace = z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "-" and "_" (one SPIFFE ID path segment)');
const FilePath = z.string().min(1);

/**
 * `identity:` — who this sidecar is in the mesh. Either Tandem's CA issues its certificates
 * (`ca`), or they are managed elsewhere and read from watched files (`files`).
 */
export const IdentitySchema = z
  .strictObject({
    /** The service in this sidecar's SPIFFE ID; defaults to `service.name`. */
    service: ServiceName.optional(),
    namespace: Namespace.default('default'),
    ca: z
      .strictObject({
        /** The CA's API, `https://host:port` (`tandem ca serve`). */
        address: z.url({ protocol: /^https$/, error: 'expected an https:// URL' }),
        /** A join token from `tandem ca token`; read when a first certificate is needed. */
        token_file: FilePath,
        /** The CA's bundle (`<ca dir>/bundle.pem`), to trust the CA on first contact. */
        bundle_file: FilePath,
      })
      .optional(),
    files: z.strictObject({ cert_file: FilePath, key_file: FilePath, bundle_file: FilePath }).optional(),
  })
  .superRefine((identity, ctx) => {
    if ((identity.ca === undefined) === (identity.files === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'expected exactly one of ca (certificates from Tandem\'s CA) or files (certificates managed elsewhere)' });
    }
  });

/**
 * `inbound.tls.mode`: `strict` accepts mutual TLS only (the default once `identity` is configured),
 * `permissive` mutual TLS or plaintext on the same port (for a migration), `disabled` plaintext only
 * (the default without `identity`; loopback only unless you know better).
 */
export const InboundTlsSchema = z.strictObject({ mode: z.enum(['strict', 'permissive', 'disabled']).optional() });

/**
 * `upstreams[].tls.mode`: `mtls` to peer sidecars (the default once `identity` is configured),
 * `plaintext` (the default without it), or `tls` — one-way TLS to a service outside the mesh, checked
 * against `ca_file` and `server_name` like any HTTPS client would.
 */
export const UpstreamTlsSchema = z
  .strictObject({
    mode: z.enum(['mtls', 'plaintext', 'tls']).optional(),
    ca_file: FilePath.optional(),
    server_name: z.string().min(1).optional(),
  })
  .superRefine((tls, ctx) => {
    if (tls.mode !== 'tls' && (tls.ca_file !== undefined || tls.server_name !== undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'ca_file and server_name apply to mode: tls only' });
    }
  });

export type IdentityConfig = z.output<typeof IdentitySchema>;
