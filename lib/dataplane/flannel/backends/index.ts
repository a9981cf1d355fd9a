import { ValidationError } from '../../../model/errors';
import { Backend, ExternalInterface } from '../backend';
import { BackendConfig } from '../net-config';
import { HostGwBackend } from './host-gw';
import { parseVxlanOptions, VxlanBackend } from './vxlan';

export { HostGwBackend, hostGwRefusal } from './host-gw';
export {
  VxlanBackend, VxlanOptions, parseVxlanOptions, vxlanDeviceName, vxlanBackendData, peerVtepMac, VXLAN_OVERHEAD, VXLAN_OVERHEAD_V6, FLANNEL_VXLAN_PORT,
} from './vxlan';

export const SUPPORTED_BACKENDS = ['vxlan', 'host-gw'] as const;

/** What a backend needs besides the config: the uplink, and for vxlan the VTEP MAC to use. */
export interface BackendContext {
  readonly external: ExternalInterface;
  /** Decided by the agent: the existing device's, the persisted one, the previous lease's, or a new random one. */
  readonly vtepMac?: string;
  /** The IPv6 device's VTEP MAC; given only when IPv6 is enabled and the uplink has an IPv6 address. */
  readonly vtepMac6?: string;
}

/** Builds the configured backend; an unsupported type is a one-line ValidationError. */
export function createBackend(config: BackendConfig, context: BackendContext, field = 'net-conf.json.Backend'): Backend {
  switch (config.type) {
    case 'host-gw':
      if (Object.keys(config.options).length > 0) {
        throw new ValidationError(`${field}.${Object.keys(config.options)[0]}`, Object.values(config.options)[0], 'no options: host-gw takes only Type');
      }
      return new HostGwBackend(context.external);
    case 'vxlan': {
      const options = parseVxlanOptions(config.options, field);
      if (!context.vtepMac) throw new Error('vxlan backend: the agent must decide the VTEP MAC before creating the backend');
      return new VxlanBackend(context.external, options, context.vtepMac, context.vtepMac6);
    }
    default:
      throw new ValidationError(`${field}.Type`, config.type, `one of ${SUPPORTED_BACKENDS.join(', ')} (udp, ipip, wireguard, ipsec are not supported here)`);
  }
}
