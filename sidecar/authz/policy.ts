import type { AuthorizationConfig, AuthorizationRule } from './authorizationConfig.js';

/** What the policy decided, and which rule decided it (`default` when none matched). */
export interface Verdict {
  readonly allowed: boolean;
  /** `rules[N]` as written in the configuration, or `default`. */
  readonly rule: string;
}

/** What a rule can look at: the caller's verified identity and the request line. */
export interface CallFacts {
  readonly caller: string | undefined;
  readonly method: string;
  readonly path: string;
}

interface CompiledRule {
  readonly name: string;
  readonly allow: boolean;
  /** Path segments of the SPIFFE ID pattern after the trust domain; `*` matches any one. */
  readonly trustDomain: string;
  readonly segments: readonly string[];
  readonly wildcards: number;
  readonly narrowed: boolean;
  matches(facts: CallFacts, callerSegments: readonly string[]): boolean;
}

/**
 * Compiles `authorization` into an ordered rule list, with Consul's intention precedence: a more
 * specific caller first (an exact SPIFFE ID before one with a `*` segment, fewer `*` before more);
 * among equals, a rule narrowed to methods, paths or gRPC calls before a rule about the whole caller;
 * then deny before allow; then file order. The first rule that matches decides.
 */
export function compilePolicy(config: AuthorizationConfig): (facts: CallFacts) => Verdict {
  const rules = config.rules.map(compileRule);
  rules.sort((a, b) => a.wildcards - b.wildcards || Number(b.narrowed) - Number(a.narrowed) || Number(a.allow) - Number(b.allow));
  const fallback: Verdict = { allowed: config.default === 'allow', rule: 'default' };
  const verdicts = new Map(rules.map((rule) => [rule, { allowed: rule.allow, rule: rule.name } satisfies Verdict]));
  return (facts) => {
    if (facts.caller === undefined) return fallback;
    const [trustDomain, ...segments] = facts.caller.slice('spiffe://'.length).split('/');
    for (const rule of rules) {
      if (rule.trustDomain === trustDomain && rule.matches(facts, segments)) return verdicts.get(rule) as Verdict;
    }
    return fallback;
  };
}

function compileRule(rule: AuthorizationRule, index: number): CompiledRule {
  const [trustDomain = '', ...segments] = rule.from.slice('spiffe://'.length).split('/');
  const methods = rule.methods === undefined ? undefined : new Set(rule.methods);
  const grpcPrefix = rule.grpc === undefined ? undefined : `/${rule.grpc.service}/${rule.grpc.method ?? ''}`;
  const exactGrpc = rule.grpc?.method !== undefined;
  return {
    name: `rules[${index}]`,
    allow: rule.action === 'allow',
    trustDomain,
    segments,
    wildcards: segments.filter((segment) => segment === '*').length,
    narrowed: methods !== undefined || rule.path_prefix !== undefined || grpcPrefix !== undefined,
    matches(facts, callerSegments) {
      if (callerSegments.length !== segments.length) return false;
      for (let i = 0; i < segments.length; i++) if (segments[i] !== '*' && segments[i] !== callerSegments[i]) return false;
      if (methods !== undefined && !methods.has(facts.method)) return false;
      if (rule.path_prefix !== undefined && !facts.path.startsWith(rule.path_prefix)) return false;
      if (grpcPrefix !== undefined) {
        const path = facts.path.split('?')[0] as string;
        if (exactGrpc ? path !== grpcPrefix : !path.startsWith(grpcPrefix)) return false;
      }
      return true;
    },
  };
}
