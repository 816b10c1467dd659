import { BodyFields } from './bodyFields.js';
import { HttpError, readJsonBody, sendEmpty, sendJson } from './http.js';
import { otherTenancy, parseFilter, parseGoBool } from './queryParams.js';
import { isCheckStatus } from './records.js';
import type { CheckStatus } from './records.js';
import { parseAgentService } from './registration.js';
import { AGENT_SERVICE_FILTER_FIELDS, agentCheck, agentService } from './render.js';
import type { RequestContext, Route } from './routing.js';

function write(path: string, handle: (context: RequestContext) => void | Promise<void>): Route {
  return {
    path,
    methods: ['PUT'],
    async handle(context) {
      otherTenancy(context.query, context.req.headers, context.config.enterprise);
      await handle(context);
      sendEmpty(context.res);
    },
  };
}

function read(path: string, body: (context: RequestContext) => unknown): Route {
  return { path, methods: ['GET'], handle: (context) => sendJson(context.res, body(context)) };
}

/** `?replace-existing-checks` counts when bare or `true`, exactly as `AgentRegisterService` tests it. */
const register = write('/v1/agent/service/register', async (context) => {
  const spec = parseAgentService(await readJsonBody(context.req));
  const replace = context.query.has('replace-existing-checks') && ['', 'true'].includes(context.query.get('replace-existing-checks') ?? '');
  context.agent.registerService(spec, replace);
});

const deregister = write('/v1/agent/service/deregister/', (context) => context.agent.deregisterService(context.param));

const maintenance = write('/v1/agent/service/maintenance/', (context) => {
  if (context.param === '') throw new HttpError(400, 'Missing service ID');
  const raw = context.query.get('enable');
  if (raw === null) throw new HttpError(400, 'Missing value for enable');
  const enable = parseGoBool(raw);
  if (enable === undefined) throw new HttpError(400, `Invalid value for enable: ${JSON.stringify(raw)}`);
  context.agent.setMaintenance(context.param, enable, context.query.get('reason') ?? '');
});

function ttlUpdate(verb: string, status: CheckStatus): Route {
  return write(`/v1/agent/check/${verb}/`, (context) => context.agent.updateTtl(context.param, status, context.query.get('note') ?? ''));
}

/** `PUT /v1/agent/check/update/:id` with `{Status, Output}`. */
const checkUpdate = write('/v1/agent/check/update/', async (context) => {
  const fields = new BodyFields(await readJsonBody(context.req), '');
  const status = fields.string('Status');
  if (!isCheckStatus(status)) throw new HttpError(400, `Invalid check status: '${status}'`);
  context.agent.updateTtl(context.param, status, fields.string('Output'));
});

const services = read('/v1/agent/services', (context) => {
  otherTenancy(context.query, context.req.headers, context.config.enterprise);
  const filter = parseFilter(context.query, AGENT_SERVICE_FILTER_FIELDS);
  const rendered = context.agent.services().map((service) => [service.id, agentService(service, context.config.datacenter, context.config)] as const);
  return Object.fromEntries(rendered.filter(([, service]) => filter(service)));
});

const checks = read('/v1/agent/checks', (context) => {
  otherTenancy(context.query, context.req.headers, context.config.enterprise);
  return Object.fromEntries(context.agent.checks().map((check) => [check.id, agentCheck(check, context.config)]));
});

const self = read('/v1/agent/self', ({ config }) => ({
  Config: {
    Datacenter: config.datacenter,
    PrimaryDatacenter: config.datacenter,
    NodeName: config.nodeName,
    NodeID: config.nodeId,
    Revision: 'tandem-test',
    Server: false,
    Version: config.version,
    BuildDate: '2025-01-01T00:00:00Z',
  },
  DebugConfig: {},
  Coord: { Vec: [0, 0, 0, 0, 0, 0, 0, 0], Error: 1.5, Adjustment: 0, Height: 1e-5 },
  Member: {
    Name: config.nodeName,
    Addr: '127.0.0.1',
    Port: 8301,
    Tags: { build: config.version, dc: config.datacenter, id: config.nodeId, role: 'node', segment: '', vsn: '2', vsn_max: '3', vsn_min: '2' },
    Status: 1,
    ProtocolMin: 1,
    ProtocolMax: 5,
    ProtocolCur: 2,
    DelegateMin: 2,
    DelegateMax: 5,
    DelegateCur: 4,
  },
  Stats: {},
  Meta: { 'consul-network-segment': '', 'consul-version': config.version },
}));

/** A client agent answers with its server leader's RPC address. */
const leader = read('/v1/status/leader', () => '127.0.0.1:8300');

export const AGENT_ROUTES: readonly Route[] = [
  register,
  deregister,
  maintenance,
  ttlUpdate('pass', 'passing'),
  ttlUpdate('warn', 'warning'),
  ttlUpdate('fail', 'critical'),
  checkUpdate,
  services,
  checks,
  self,
  leader,
];
