import { z } from 'zod';
import { DurationField, Port } from '../config/fields.js';

/** A Kubernetes namespace (an RFC 1123 label). */
const Namespace = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a Kubernetes namespace: lower-case letters, digits and "-", at most 63');

/**
 * `outbound.transparent`: the HTTP proxy port is the target of iptables' REDIRECT (`tandem iptables
 * install`), so it reads each connection's original destination and passes what is not HTTP for a
 * known upstream through to it. Needs Linux and the native module `npm run build` compiles.
 */
export const TransparentSchema = z.strictObject({
  /** The pod's namespace: `orders.<namespace>` names upstream `orders`; defaults to `identity.namespace`, else `default`. */
  namespace: Namespace.optional(),
  /** `orders.<ns>.svc.<cluster_domain>` names upstream `orders`. */
  cluster_domain: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a DNS domain').default('cluster.local'),
  /**
   * A redirected connection that sends nothing for this long is passed through: its server speaks
   * first (SMTP, MySQL). List such ports in `opaque_ports` to spare them the wait. `0s` waits for the
   * client however long it takes (Istio's default): a server-first protocol must then be an opaque port.
   */
  protocol_detection_timeout: DurationField.prefault('1s'),
  /** Original destination ports passed through as TCP without a look at their bytes. */
  opaque_ports: z.array(Port.min(1)).default([]),
  /** How long a passed-through connection may take to reach its original destination. */
  connect_timeout: DurationField.prefault('5s'),
});

export type TransparentConfig = z.output<typeof TransparentSchema>;
