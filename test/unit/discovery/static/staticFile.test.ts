import { describe, expect, it } from 'vitest';
import { parseStaticFile, StaticFileError } from '../../../../discovery/static/staticFile.js';

function problems(text: string): readonly string[] {
  try {
    parseStaticFile('endpoints.yaml', text);
  } catch (error) {
    if (error instanceof StaticFileError) return error.problems;
    throw error;
  }
  throw new Error('file was accepted');
}

describe('static endpoints file', () => {
  it('reads full entries and host:port shorthand, with defaults', () => {
    const services = parseStaticFile(
      'endpoints.yaml',
      `services:
  orders:
    - { address: 10.0.0.7, port: 15006, weight: 2, metadata: { zone: a } }
    - 10.0.0.8:15006
    - "[::1]:8080"
    - { address: 10.0.0.9, port: 1, health: draining }
`,
    );
    expect(services.get('orders')).toEqual([
      { address: '10.0.0.7', port: 15006, weight: 2, health: 'healthy', metadata: { zone: 'a' } },
      { address: '10.0.0.8', port: 15006, weight: 1, health: 'healthy', metadata: {} },
      { address: '::1', port: 8080, weight: 1, health: 'healthy', metadata: {} },
      { address: '10.0.0.9', port: 1, weight: 1, health: 'draining', metadata: {} },
    ]);
  });

  it('reads the identity an endpoint proves over TLS, and refuses one that is not a SPIFFE ID', () => {
    const identity = 'spiffe://example.org/ns/default/svc/orders';
    const services = parseStaticFile('endpoints.yaml', `services:\n  orders:\n    - { address: 10.0.0.7, port: 15006, identity: "${identity}" }\n`);
    expect(services.get('orders')?.[0]?.identity).toBe(identity);
    expect(problems('services:\n  orders:\n    - { address: a, port: 1, identity: orders }\n')).toEqual([
      'services.orders[0].identity: expected a SPIFFE ID (spiffe://trust-domain/path)',
    ]);
  });

  it('accepts JSON and an empty file', () => {
    expect(parseStaticFile('e.json', '{"services":{"a":["127.0.0.1:1"]}}').get('a')).toHaveLength(1);
    expect(parseStaticFile('e.yaml', '').size).toBe(0);
  });

  it('names each bad field', () => {
    expect(problems('services:\n  orders:\n    - { address: a, port: 0 }\n    - nope\n')).toEqual([
      'services.orders[0].port: must be >= 1',
      'services.orders[1]: expected "host:port", got "nope"',
    ]);
    expect(problems('servics: {}\n')).toEqual(['servics: unknown key']);
  });

  it('says when the text is not YAML at all', () => {
    expect(problems('services: [\n')[0]).toMatch(/^not valid YAML or JSON/);
  });
});
