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

