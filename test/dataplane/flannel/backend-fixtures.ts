import { Cidr } from '../../../lib/model/cidr';
import { Lease } from '../../../lib/dataplane/flannel/lease';

/** A lease as the lease managers produce it (etcd-style key). */
export function lease(subnet: string, publicIp: string, backendType = 'vxlan', vtepMac?: string): Lease {
  return {
    key: subnet.replace('/', '-'),
    subnet: Cidr.parse(subnet, 'subnet', 4),
    attrs: { publicIp, backendType, backendData: vtepMac ? { VNI: 1, VtepMAC: vtepMac } : undefined },
  };
}


/** A dual-stack lease: IPv4 and IPv6 subnets and public addresses, with per-family VTEP MACs for vxlan. */
export function dualLease(subnet: string, publicIp: string, ipv6Subnet: string, publicIpv6: string, backendType = 'vxlan', macs?: [string, string]): Lease {
  return {
    key: `${subnet.replace('/', '-')}&${ipv6Subnet.replace('/', '-')}`,
    subnet: Cidr.parse(subnet, 'subnet', 4),
    ipv6Subnet: Cidr.parse(ipv6Subnet, 'ipv6Subnet', 6),
    attrs: {
      publicIp, publicIpv6, backendType,
      backendData: macs ? { VNI: 1, VtepMAC: macs[0] } : undefined,
      backendV6Data: macs ? { VNI: 1, VtepMAC: macs[1] } : undefined,
    },
  };
}
