import type Consul from 'consul';
import type { ConsulConfig } from './consulConfig.js';
import { ConsulAgentConnection, type ConsulReads } from './consulHttp.js';
import type { AgentCalls } from './selfRegistration.js';

/** What the provider needs beyond its config: the token and CA read from their files. */
export interface ConsulSecrets {
  readonly token: string | undefined;
  readonly ca: string | undefined;
}

/** The agent as the provider reaches it: reads for the watches, calls for self-registration. */
export interface ConsulAgentLink {
  readonly reads: ConsulReads;
  readonly calls: AgentCalls;
  /** Closes the connections; reads and calls in flight fail. */
  close(): void;
}

/**
 * One keep-alive pool to the agent, shared by the watches' blocking reads (Tandem's own HTTP calls,
 * see `ConsulAgentConnection`) and the writes of the `consul` package, both sending the token.
 */
export function linkToAgent(config: ConsulConfig, secrets: ConsulSecrets): ConsulAgentLink {
  const base = new URL(config.address);
  const connection = new ConsulAgentConnection(base, secrets.token, secrets.ca);
  // The package does the agent writes only (registration, TTL updates): loaded on the first of them,
  // so a sidecar that does not register does not carry it.
  let client: Promise<Consul> | undefined;
  const consul = (): Promise<Consul> =>
    (client ??= import('consul').then(
      ({ default: ConsulClient }) =>
        new ConsulClient({
          host: base.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
          secure: base.protocol === 'https:',
          agent: connection.agent,
          defaults: {
            ...(secrets.token === undefined ? {} : { token: secrets.token }),
            ...(config.datacenter === undefined ? {} : { dc: config.datacenter }),
          },
        }),
    ));
  return { reads: connection, calls: agentCalls(consul), close: () => connection.close() };
}

/**
 * The package's typings leave out the per-call `timeout` (which it honours) and the check's `timeout`
 * field, hence this narrow view instead of casts at each call.
 */
function agentCalls(consul: () => Promise<Consul>): AgentCalls {
  return {
    register: async (options) => {
      const answer: unknown = await (await consul()).agent.service.register(options as { name: string });
      return answer;
    },
    deregister: async (options) => {
      const answer: unknown = await (await consul()).agent.service.deregister(options);
      return answer;
    },
    update: async (status, options) => {
      const { check } = (await consul()).agent;
      const answer: unknown = await (status === 'passing' ? check.pass(options) : status === 'warning' ? check.warn(options) : check.fail(options));
      return answer;
    },
  };
}
