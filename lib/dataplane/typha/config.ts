import { ValidationError } from '../../model/errors';
import { KubeClient } from '../datastore/kube/client';
import { TyphaAddress } from './client';
import { parseTyphaAddress, typhaServiceDiscovery } from './discovery';

/**
 * Where an agent finds Typha (Felix's FELIX_TYPHAADDR, else FELIX_TYPHAK8SSERVICENAME +
 * FELIX_TYPHAK8SNAMESPACE): a fixed address, or a Service whose endpoints are asked on every connect.
 */
export type TyphaConfig =
  | { readonly address: TyphaAddress }
  | { readonly service: string; readonly namespace: string };

const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * FELIX_TYPHAADDR / FELIX_TYPHAK8SSERVICENAME / FELIX_TYPHAK8SNAMESPACE, as both node agents read
 * them. Unset, empty or `none` (Felix's "zero value", what the calico-config ConfigMap holds when
 * Typha is off) means no Typha: the agent follows the datastore itself. A Service needs the
 * Kubernetes datastore (it is found through the API). @default namespace kube-system
 */
export function parseTypha(address: string | undefined, service: string | undefined, namespace: string | undefined, datastoreType: string): TyphaConfig | undefined {
  const unset = (v: string | undefined) => v === undefined || v.trim() === '' || v.trim().toLowerCase() === 'none';
  if (!unset(address)) {
    try {
      return { address: parseTyphaAddress((address as string).trim()) };
    } catch {
      throw new ValidationError('FELIX_TYPHAADDR', address, 'host:port of Typha, e.g. 10.96.0.20:5473 ([fd00::1]:5473 for IPv6)');
    }
  }
  if (unset(service)) return undefined;
  const name = (service as string).trim();
  if (datastoreType !== 'kubernetes') throw new ValidationError('FELIX_TYPHAK8SSERVICENAME', service, 'unset with DATASTORE_TYPE etcdv3 (Typha is found through the Kubernetes API); use FELIX_TYPHAADDR');
  if (!DNS_LABEL.test(name)) throw new ValidationError('FELIX_TYPHAK8SSERVICENAME', service, 'a Service name (lower-case letters, digits and -, at most 63)');
  const ns = namespace || 'kube-system';
  if (!DNS_LABEL.test(ns)) throw new ValidationError('FELIX_TYPHAK8SNAMESPACE', ns, 'a namespace name (lower-case letters, digits and -, at most 63)');
  return { service: name, namespace: ns };
}

/** The `discover` function of a TyphaClient for `config` (the client is needed for a Service). */
export function typhaDiscovery(config: TyphaConfig, client: KubeClient | undefined): () => Promise<TyphaAddress> {
  if ('address' in config) return async () => config.address;
  if (!client) throw new Error(`typha: service ${config.namespace}/${config.service} is found through the Kubernetes API, and there is no client`);
  return typhaServiceDiscovery(client, config.namespace, config.service);
}
