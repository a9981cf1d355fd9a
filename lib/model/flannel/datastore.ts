import { checkDnsSubdomain, checkKnownKeys } from '../checks';
import { ConflictError, ValidationError } from '../errors';

/** Where a Flannel-style network keeps its node subnet leases. */
export enum FlannelDatastoreType {
  /** Node `spec.podCIDRs` (allocated by kube-controller-manager) plus node annotations. */
  KUBERNETES_API = 'kubernetes-api',
  /** Leases under a key prefix in an etcd v3 cluster, allocated by the agents themselves. */
  ETCD = 'etcd',
}

/** Options of the etcd datastore. */
export interface EtcdDatastoreOptions {
  /** Client URLs of the etcd members, e.g. `https://10.0.0.10:2379`. */
  readonly endpoints: string[];
  /**
   * Key prefix of the network's configuration and leases.
   * @default '/coreos.com/network' (flannel's, so existing tooling finds the leases)
   */
  readonly keyPrefix?: string;
  /**
   * Name of a Secret in the network's namespace with the client certificate (`tls.crt`, `tls.key`)
   * and the CA (`ca.crt`) for mutual TLS to etcd.
   * @default no client certificate (plain HTTP or server-only TLS)
   */
  readonly tlsSecretName?: string;
}

/**
 * The datastore of a Flannel-style network: `FlannelDatastore.kubernetesApi()` or
 * `FlannelDatastore.etcd({ endpoints: ['https://10.0.0.10:2379'], tlsSecretName: 'etcd-client' })`.
 */
export class FlannelDatastore {
  public static kubernetesApi(): FlannelDatastore {
    return new FlannelDatastore(FlannelDatastoreType.KUBERNETES_API, {});
  }

  public static etcd(options: EtcdDatastoreOptions): FlannelDatastore {
    return new FlannelDatastore(FlannelDatastoreType.ETCD, options);
  }

  /** The options exactly as given, checked by `resolveFlannelDatastore`. */
  public readonly options: Readonly<Record<string, unknown>>;

  private constructor(public readonly type: FlannelDatastoreType, options: object) {
    this.options = { ...options };
  }
}

/** A datastore with its options checked and defaulted. */
export type ResolvedFlannelDatastore = ResolvedKubernetesApiDatastore | ResolvedEtcdDatastore;

export interface ResolvedKubernetesApiDatastore {
  readonly type: FlannelDatastoreType.KUBERNETES_API;
}

export interface ResolvedEtcdDatastore {
  readonly type: FlannelDatastoreType.ETCD;
  readonly endpoints: readonly string[];
  readonly keyPrefix: string;
  readonly tlsSecretName?: string;
}

export const DEFAULT_ETCD_KEY_PREFIX = '/coreos.com/network';

const ETCD_KEYS: readonly (keyof EtcdDatastoreOptions)[] = ['endpoints', 'keyPrefix', 'tlsSecretName'];

/** Checks and defaults a datastore's options; fields are named `<field>.<option>`. */
export function resolveFlannelDatastore(datastore: FlannelDatastore, field: string): ResolvedFlannelDatastore {
  if (!(datastore instanceof FlannelDatastore)) {
    throw new ValidationError(field, datastore, 'a FlannelDatastore: FlannelDatastore.kubernetesApi() or .etcd({ endpoints })');
  }
  const options = datastore.options;
  if (datastore.type === FlannelDatastoreType.KUBERNETES_API) {
    checkKnownKeys(field, options, [], 'the Kubernetes API datastore');
    return { type: FlannelDatastoreType.KUBERNETES_API };
  }
  checkKnownKeys(field, options, ETCD_KEYS, 'the etcd datastore');
  const endpoints = options.endpoints;
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    throw new ValidationError(`${field}.endpoints`, endpoints, 'a non-empty list of etcd client URLs such as https://10.0.0.10:2379');
  }
  endpoints.forEach((endpoint, index) => checkEndpoint(`${field}.endpoints[${index}]`, endpoint));
  const keyPrefix = options.keyPrefix ?? DEFAULT_ETCD_KEY_PREFIX;
  if (typeof keyPrefix !== 'string' || !/^(\/[A-Za-z0-9._-]+)+$/.test(keyPrefix)) {
    throw new ValidationError(`${field}.keyPrefix`, keyPrefix, 'an etcd key prefix such as /coreos.com/network (starts with "/", no trailing "/")');
  }
  const tlsSecretName = options.tlsSecretName === undefined ? undefined : checkDnsSubdomain(`${field}.tlsSecretName`, options.tlsSecretName);
  if (tlsSecretName !== undefined) {
    const plain = (endpoints as string[]).findIndex((endpoint) => endpoint.startsWith('http://'));
    if (plain >= 0) {
      throw new ConflictError(`${field}.endpoints[${plain}]`, endpoints[plain],
        `uses http, but ${field}.tlsSecretName asks for TLS client certificates: use https`);
    }
  }
  return {
    type: FlannelDatastoreType.ETCD,
    endpoints: [...(endpoints as string[])],
    keyPrefix,
    ...(tlsSecretName !== undefined ? { tlsSecretName } : {}),
  };
}

function checkEndpoint(field: string, endpoint: unknown): void {
  const expected = 'an etcd client URL such as https://10.0.0.10:2379 (http or https, host and port, no path)';
  if (typeof endpoint !== 'string') throw new ValidationError(field, endpoint, expected);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ValidationError(field, endpoint, expected);
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.hostname === '' || url.port === ''
    || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || endpoint.endsWith('/')) {
    throw new ValidationError(field, endpoint, expected);
  }
}
