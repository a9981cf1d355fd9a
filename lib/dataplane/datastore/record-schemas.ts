import { calicoCrd } from '../../crds/calico';
import { JsonSchema, int, map, obj, str } from '../../crds/schema';

const MAC = '^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$';

/**
 * The etcd-mode Calico Node (`nodes/<name>`; Kubernetes mode: the store's view of the Node's
 * annotations, `CalicoNodeValue`). Calico's Node CRD is not one the kit installs, so its schema is
 * written here.
 */
export const CALICO_NODE_SCHEMA: JsonSchema = obj({
  bgp: obj({
    ipv4Address: str('IPv4 address/prefix of the node.'),
    ipv6Address: str('IPv6 address/prefix of the node.'),
    asNumber: int('AS of the node.', 1, 4294967295),
    routeReflectorClusterID: str(),
  }),
  ipv4VXLANTunnelAddr: str(),
  vxlanTunnelMACAddr: str(undefined, { pattern: MAC }),
  ipv6VXLANTunnelAddr: str(),
  vxlanTunnelMACAddrV6: str(undefined, { pattern: MAC }),
  labels: map(str()),
});

/** The kinds whose records the dataplane decodes, by name: each CRD's spec schema (and the Node's). */
export const RECORD_KINDS = ['IPPool', 'IPAMBlock', 'BlockAffinity', 'IPAMHandle', 'IPAMConfig', 'IPReservation', 'BGPConfiguration', 'BGPPeer', 'BGPFilter', 'Node'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

export function recordSchema(kind: RecordKind): JsonSchema {
  return kind === 'Node' ? CALICO_NODE_SCHEMA : calicoCrd(kind).spec;
}

/**
 * How the validators are compiled (scripts/generate-record-validators.ts): as the API server checks
 * a CRD — unknown fields pass (it prunes them), `x-kubernetes-*` keywords are not JSON Schema's —
 * and stopping at the first violation, which is the one reported. Formats are not checked.
 */
export const RECORD_AJV_OPTIONS = { strict: false, allErrors: false, validateFormats: false } as const;
