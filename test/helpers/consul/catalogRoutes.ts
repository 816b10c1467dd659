import { serveRead } from './blockingRead.js';
import type { ServiceInstance } from './catalog.js';
import { BodyFields } from './bodyFields.js';
import { HttpError, readJsonBody, sendJson } from './http.js';
import { boolParam, otherTenancy, parseFilter, parseNodeMeta, parseReadOptions, requireLocalDatacenter, tagsMatch } from './queryParams.js';
import { parseCatalogRegistration } from './registration.js';
import { CATALOG_FILTER_FIELDS, catalogServiceNode, HEALTH_FILTER_FIELDS, healthEntry } from './render.js';
import type { RequestContext, Route } from './routing.js';

/** The instances of `name` a health or catalog read starts from: `?tag=` and `?node-meta=` applied. */
function selectInstances(context: RequestContext, name: string): () => ServiceInstance[] {
  const tags = tagsMatch(context.query);
  const nodeMeta = parseNodeMeta(context.query);
  const elsewhere = otherTenancy(context.query, context.req.headers, context.config.enterprise);
  return () =>
    elsewhere ? [] : context.catalog.instances(name).filter((instance) => tags(instance.service.tags) && nodeMeta(instance.node.meta));
}

function serviceName(context: RequestContext): string {
  if (context.param === '') throw new HttpError(400, 'Missing service name');
  return context.param;
}

const healthService: Route = {
  path: '/v1/health/service/',
  methods: ['GET'],
  handle(context) {
    const name = serviceName(context);
    const options = parseReadOptions(context.query, context.config.datacenter);
    const instances = selectInstances(context, name);
    const filter = parseFilter(context.query, HEALTH_FILTER_FIELDS);
    const passingOnly = boolParam(context.query, 'passing');
    if (passingOnly === undefined) throw new HttpError(400, 'Invalid value for ?passing');
    serveRead(context, options, {
      index: () => context.catalog.serviceIndex(name, true),
      body: () =>
        instances()
          .filter((instance) => !passingOnly || instance.checks.every((check) => check.status === 'passing'))
          .map((instance) => healthEntry(instance, context.config))
          .filter(filter),
    });
  },
};

const catalogService: Route = {
  path: '/v1/catalog/service/',
  methods: ['GET'],
  handle(context) {
    const name = serviceName(context);
    const options = parseReadOptions(context.query, context.config.datacenter);
    const instances = selectInstances(context, name);
    const filter = parseFilter(context.query, CATALOG_FILTER_FIELDS);
    serveRead(context, options, {
      index: () => context.catalog.serviceIndex(name, false),
      body: () => instances().map((instance) => catalogServiceNode(instance, context.config)).filter(filter),
    });
  },
};

/** Name → union of tags; a filter applies to each instance (as `structs.ServiceNode`) before the union. */
const catalogServices: Route = {
  path: '/v1/catalog/services',
  methods: ['GET'],
  handle(context) {
    const options = parseReadOptions(context.query, context.config.datacenter);
    const filter = parseFilter(context.query, CATALOG_FILTER_FIELDS);
    const nodeMeta = parseNodeMeta(context.query);
    const elsewhere = otherTenancy(context.query, context.req.headers, context.config.enterprise);
    serveRead(context, options, {
      index: () => context.catalog.servicesIndex(),
      body: () => {
        const tags = new Map<string, Set<string>>();
        if (elsewhere) return {};
        for (const instance of context.catalog.allInstances()) {
          if (!nodeMeta(instance.node.meta) || !filter(catalogServiceNode(instance, context.config))) continue;
          const known = tags.get(instance.service.name) ?? new Set<string>();
          for (const tag of instance.service.tags) known.add(tag);
          tags.set(instance.service.name, known);
        }
        return Object.fromEntries([...tags].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, set]) => [name, [...set].sort()]));
      },
    });
  },
};

/** Lets a test put instances on other nodes. Answers `true`, as Consul does. */
const catalogRegister: Route = {
  path: '/v1/catalog/register',
  methods: ['PUT'],
  async handle(context) {
    otherTenancy(context.query, context.req.headers, context.config.enterprise);
    requireLocalDatacenter(context.query.get('dc'), context.config.datacenter);
    const body = await readJsonBody(context.req);
    requireLocalDatacenter(new BodyFields(body, '').string('Datacenter'), context.config.datacenter);
    context.catalog.register(parseCatalogRegistration(body, context.config.datacenter));
    sendJson(context.res, true);
  },
};

/** `Node` alone removes the node and all on it; with `ServiceID` one instance; with `CheckID` one check. */
const catalogDeregister: Route = {
  path: '/v1/catalog/deregister',
  methods: ['PUT'],
  async handle(context) {
    otherTenancy(context.query, context.req.headers, context.config.enterprise);
    requireLocalDatacenter(context.query.get('dc'), context.config.datacenter);
    const fields = new BodyFields(await readJsonBody(context.req), '');
    requireLocalDatacenter(fields.string('Datacenter'), context.config.datacenter);
    const node = fields.string('Node');
    if (node === '') throw new HttpError(500, 'Must provide node');
    const serviceId = fields.string('ServiceID');
    const checkId = fields.string('CheckID');
    if (serviceId !== '') context.catalog.deregisterService(node, serviceId);
    else if (checkId !== '') context.catalog.deregisterCheck(node, checkId);
    else context.catalog.deregisterNode(node);
    sendJson(context.res, true);
  },
};

export const CATALOG_ROUTES: readonly Route[] = [healthService, catalogService, catalogServices, catalogRegister, catalogDeregister];
