import { KubeClient } from '../datastore/kube/client';
import { TyphaAddress } from './client';

interface Endpoints {
  readonly subsets?: readonly {
    readonly addresses?: readonly { readonly ip: string }[];
    readonly ports?: readonly { readonly name?: string; readonly port: number }[];
  }[];
}

/**
 * Felix's Typha discovery (FELIX_TYPHAK8SSERVICENAME): the ready addresses of the Service's
 * Endpoints, one picked at random so that agents spread over the replicas; asked on every connect.
 */
export function typhaServiceDiscovery(client: KubeClient, namespace: string, service: string, random: () => number = Math.random): () => Promise<TyphaAddress> {
  return async () => {
    const endpoints = await client.request<Endpoints>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/endpoints/${encodeURIComponent(service)}`);
    const candidates: TyphaAddress[] = [];
    for (const subset of endpoints.subsets ?? []) {
      const port = (subset.ports ?? []).find((p) => p.name === 'calico-typha') ?? subset.ports?.[0];
      if (!port) continue;
      for (const a of subset.addresses ?? []) candidates.push({ host: a.ip, port: port.port });
    }
    if (!candidates.length) throw new Error(`typha: service ${namespace}/${service} has no ready endpoints yet`);
    return candidates[Math.floor(random() * candidates.length)];
  };
}

/** FELIX_TYPHAADDR: `host:port` (IPv6 in brackets). */
export function parseTyphaAddress(value: string): TyphaAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new Error(`FELIX_TYPHAADDR ${JSON.stringify(value)}: expected host:port, e.g. 10.96.0.20:5473`);
  return { host: m[1] ?? m[2], port };
}
