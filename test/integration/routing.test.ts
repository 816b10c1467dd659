import { describe, expect, it } from 'vitest';
import { startHttp1Backend, startHttp2Backend } from '../helpers/backends.js';
import { h1Request, h2Request, h2Session } from '../helpers/clients.js';
import { startSidecar } from '../helpers/sidecar.js';

describe('outbound routing', () => {
  it('sends everything on an upstream local port to that upstream', async () => {
    const backend = await startHttp1Backend((req, res) => res.end(`web ${req.url}`));
    const mesh = await startSidecar({ upstreams: [{ name: 'web', local_port: 0 }] }, { web: [backend.endpoint] });
    const response = await h1Request(mesh.port('outbound.web'), { path: '/a?b=c', headers: { host: 'anything' } });
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('web /a?b=c');
  });

  it.each(['api', 'api:80', 'api.service.consul', 'API.service.dc2.consul'])('routes authority %s on the HTTP proxy port to upstream "api"', async (authority) => {
    const api = await startHttp2Backend((stream, headers) => {
      stream.respond({ ':status': 200 });
      stream.end(`api saw ${String(headers[':authority'])}`);
    });
    const web = await startHttp1Backend((_req, res) => res.end('web'));
    const mesh = await startSidecar(
      { outbound: { http_proxy_port: 0 }, upstreams: [{ name: 'web' }, { name: 'api', protocol: 'http2' }] },
      { web: [web.endpoint], api: [api.endpoint] },
    );
    const viaH1 = await h1Request(mesh.port('outbound.http_proxy'), { headers: { host: authority } });
    expect(viaH1.body.toString()).toBe(`api saw ${authority}`);
    const viaH2 = await h2Request(h2Session(mesh.port('outbound.http_proxy')), { ':authority': authority });
    expect(viaH2.body.toString()).toBe(`api saw ${authority}`);
  });

  it('answers 404 with x-tandem-error for an authority that names no upstream', async () => {
    const web = await startHttp1Backend((_req, res) => res.end('web'));
    const mesh = await startSidecar({ outbound: { http_proxy_port: 0 }, upstreams: [{ name: 'web' }] }, { web: [web.endpoint] });
    const response = await h1Request(mesh.port('outbound.http_proxy'), { headers: { host: 'orders' } });
    expect(response.status).toBe(404);
    expect(response.headers['x-tandem-error']).toBe('TANDEM_NO_ROUTE');
    expect(response.body.toString()).toContain('no upstream named "orders"');
    expect(web.connectionsAccepted()).toBe(0);
  });

  it('routes absolute-form request targets (HTTP_PROXY style) by their authority', async () => {
    const web = await startHttp1Backend((req, res) => res.end(`${req.headers.host} ${req.url}`));
    const mesh = await startSidecar({ outbound: { http_proxy_port: 0 }, upstreams: [{ name: 'web' }] }, { web: [web.endpoint] });
    const response = await h1Request(mesh.port('outbound.http_proxy'), { path: 'http://web:8080/x?y=1', headers: { host: 'web:8080' } });
    expect(response.body.toString()).toBe('web:8080 /x?y=1');
  });
});
