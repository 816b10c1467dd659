import { describe, expect, it } from 'vitest';
import { serviceNameFromAuthority } from '../../../../sidecar/stack/serviceNames.js';

describe('service name from an authority', () => {
  it.each([
    ['orders', 'orders'],
    ['orders:80', 'orders'],
    ['Orders:8080', 'orders'],
    ['orders.service.consul', 'orders'],
    ['orders.service.consul.', 'orders'],
    ['orders.service.dc1.consul:443', 'orders'],
    ['orders.example.com', 'orders.example.com'],
    ['[::1]:80', '[::1]:80'],
    // Without a namespace to read them by, Kubernetes names are hosts like any other.
    ['orders.shop.svc.cluster.local', 'orders.shop.svc.cluster.local'],
  ])('%s names %s', (authority, name) => {
    expect(serviceNameFromAuthority(authority)).toBe(name);
  });
});

describe('Kubernetes service names', () => {
  const naming = { namespace: 'shop', clusterDomain: 'cluster.local' };
  it.each([
    ['orders', 'orders'],
    ['orders:80', 'orders'],
    ['orders.shop', 'orders'],
    ['orders.shop:8080', 'orders'],
    ['orders.shop.svc', 'orders'],
    ['orders.shop.svc.cluster.local', 'orders'],
    ['ORDERS.SHOP.SVC.CLUSTER.LOCAL.:80', 'orders'],
    // Consul's catalog is flat: a service in another namespace is the service of that name.
    ['orders.billing.svc.cluster.local', 'orders'],
    ['orders.billing.svc', 'orders'],
    // Two labels name a namespace only when it is the sidecar's own: `orders.com` is a domain.
    ['orders.billing', 'orders.billing'],
    ['orders.com', 'orders.com'],
    // Another cluster domain is not this cluster's.
    ['orders.shop.svc.other.example', 'orders.shop.svc.other.example'],
    ['orders.service.consul', 'orders'],
  ])('%s names %s', (authority, name) => {
    expect(serviceNameFromAuthority(authority, naming)).toBe(name);
  });
});
