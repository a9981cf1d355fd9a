import { checkBoolean, checkDnsSubdomain, checkEnum, checkInteger, checkKnownKeys, checkPort } from '../checks';
import { ConflictError, ValidationError } from '../errors';

/** The ways a Flannel-style network carries pod traffic between nodes. */
export enum FlannelBackendType {
  /** Encapsulates pod packets in VXLAN (UDP) between nodes; works across L3 boundaries. */
  VXLAN = 'vxlan',
  /** Routes each node's pod subnet via that node's IP; needs every node on one L2 segment. */
  HOST_GW = 'host-gw',
  /** Encrypts pod traffic between nodes in WireGuard tunnels. */
  WIREGUARD = 'wireguard',
}

/** Options of the VXLAN backend (flannel's `Backend` keys `VNI`, `Port`, `MTU`, `DirectRouting`, `GBP`). */
export interface VxlanBackendOptions {
  /**
   * VXLAN network identifier, 1..16777215.
   * @default 1
   */
  readonly vni?: number;
  /**
   * UDP destination port of the VXLAN packets.
   * @default 8472 (the Linux kernel's historical VXLAN port, as flannel)
   */
  readonly port?: number;
  /**
   * MTU of the underlying interface, used to size the VXLAN device and the pods' MTU (this minus 50 bytes).
   * @default the MTU of the interface the agent selects, detected on each node
   */
  readonly mtu?: number;
  /**
   * Route directly (without encapsulation) to peers on the same L2 segment, VXLAN only across subnets.
   * @default false
   */
  readonly directRouting?: boolean;
  /**
   * VXLAN Group Based Policy extension.
   * @default false
   */
  readonly gbp?: boolean;
}

/** How WireGuard tunnels are set up for the two address families (flannel's `Mode`). */
export enum WireGuardMode {
  /** One device per address family. */
  SEPARATE = 'separate',
  /** One device; IPv6 outer addresses when the node has a public IPv6 address, else IPv4. */
  AUTO = 'auto',
  /** One device with IPv4 outer addresses. */
  IPV4 = 'ipv4',
  /** One device with IPv6 outer addresses. */
  IPV6 = 'ipv6',
}

/** Options of the WireGuard backend. */
export interface WireGuardBackendOptions {
  /**
   * UDP port the IPv4 (or single) WireGuard device listens on.
   * @default 51820
   */
  readonly listenPort?: number;
  /**
   * UDP port the IPv6 WireGuard device listens on (mode `separate`).
   * @default 51821
   */
  readonly listenPortV6?: number;
  /**
   * Name of a Secret in the network's namespace whose key `psk` holds a WireGuard pre-shared key.
   * @default no pre-shared key
   */
  readonly pskSecretName?: string;
  /**
   * Seconds between keepalive packets to each peer; 0 disables them.
   * @default 0
   */
  readonly persistentKeepaliveSeconds?: number;
  /**
   * Device layout for the address families.
   * @default WireGuardMode.SEPARATE
   */
  readonly mode?: WireGuardMode;
}

/**
 * The backend of a Flannel-style network. Create it with a static factory:
 * `FlannelBackend.vxlan({ vni: 4096 })`, `FlannelBackend.hostGw()`, `FlannelBackend.wireGuard()`.
 * Options are checked when the network is resolved, so JavaScript callers that pass unknown or
 * misplaced options get the same one-line errors as everybody else.
 */
export class FlannelBackend {
  /** VXLAN encapsulation. */
  public static vxlan(options: VxlanBackendOptions = {}): FlannelBackend {
    return new FlannelBackend(FlannelBackendType.VXLAN, options);
  }

  /** Plain routes via each node's IP (all nodes on one L2 segment). Takes no options. */
  public static hostGw(options: Readonly<Record<string, never>> = {}): FlannelBackend {
    // TypeScript admits no option here; JavaScript callers' options are kept so validation rejects them.
    return new FlannelBackend(FlannelBackendType.HOST_GW, options);
  }

  /** WireGuard tunnels (needs the `wireguard` kernel module on every node). */
  public static wireGuard(options: WireGuardBackendOptions = {}): FlannelBackend {
    return new FlannelBackend(FlannelBackendType.WIREGUARD, options);
  }

  /** The options exactly as given, checked by `resolveFlannelBackend`. */
  public readonly options: Readonly<Record<string, unknown>>;

  private constructor(public readonly type: FlannelBackendType, options: object) {
    this.options = { ...options };
  }
}

/** A backend with its options checked and defaulted, plus what the rest of the model derives from it. */
export type ResolvedFlannelBackend = ResolvedVxlanBackend | ResolvedHostGwBackend | ResolvedWireGuardBackend;

interface ResolvedBackendBase {
  /** Bytes this backend's encapsulation adds to each packet. */
  readonly encapsulationOverheadBytes: number;
  /** The uplink MTU when configured; undefined = the agent detects it per node. */
  readonly uplinkMtu?: number;
}

export interface ResolvedVxlanBackend extends ResolvedBackendBase {
  readonly type: FlannelBackendType.VXLAN;
  readonly vni: number;
  readonly port: number;
  readonly directRouting: boolean;
  readonly gbp: boolean;
}

export interface ResolvedHostGwBackend extends ResolvedBackendBase {
  readonly type: FlannelBackendType.HOST_GW;
}

export interface ResolvedWireGuardBackend extends ResolvedBackendBase {
  readonly type: FlannelBackendType.WIREGUARD;
  readonly listenPort: number;
  readonly listenPortV6: number;
  readonly pskSecretName?: string;
  readonly persistentKeepaliveSeconds: number;
  readonly mode: WireGuardMode;
}

/** Encapsulation overhead per backend, IPv4 underlay (flannel's MTU table). */
export const BACKEND_OVERHEAD_BYTES: Readonly<Record<FlannelBackendType, number>> = {
  [FlannelBackendType.VXLAN]: 50,
  [FlannelBackendType.HOST_GW]: 0,
  [FlannelBackendType.WIREGUARD]: 80,
};

export const DEFAULT_VXLAN_VNI = 1;
export const DEFAULT_VXLAN_PORT = 8472;
export const DEFAULT_WIREGUARD_PORT = 51820;
export const DEFAULT_WIREGUARD_PORT_IPV6 = 51821;
export const MAX_VXLAN_VNI = 16777215;

const VXLAN_KEYS: readonly (keyof VxlanBackendOptions)[] = ['vni', 'port', 'mtu', 'directRouting', 'gbp'];
const WIREGUARD_KEYS: readonly (keyof WireGuardBackendOptions)[] = ['listenPort', 'listenPortV6', 'pskSecretName',
  'persistentKeepaliveSeconds', 'mode'];

/**
 * Checks and defaults a backend's options. `ipv6` tells whether the network carries IPv6 (pods then
 * need an MTU of at least 1280). Fields are named `<field>.<option>`.
 */
export function resolveFlannelBackend(backend: FlannelBackend, field: string, ipv6: boolean): ResolvedFlannelBackend {
  if (!(backend instanceof FlannelBackend)) {
    throw new ValidationError(field, backend, 'a FlannelBackend: FlannelBackend.vxlan(), .hostGw() or .wireGuard()');
  }
  const options = backend.options;
  const overhead = BACKEND_OVERHEAD_BYTES[backend.type];
  switch (backend.type) {
    case FlannelBackendType.VXLAN: {
      checkKnownKeys(field, options, VXLAN_KEYS, 'the vxlan backend');
      const minPodMtu = ipv6 ? 1280 : 576;
      const mtu = options.mtu === undefined ? undefined
        : checkInteger(`${field}.mtu`, options.mtu, minPodMtu + overhead, 65535, `bytes (pods get ${overhead} less, at least ${minPodMtu})`);
      return {
        type: FlannelBackendType.VXLAN,
        vni: options.vni === undefined ? DEFAULT_VXLAN_VNI : checkInteger(`${field}.vni`, options.vni, 1, MAX_VXLAN_VNI),
        port: options.port === undefined ? DEFAULT_VXLAN_PORT : checkPort(`${field}.port`, options.port),
        directRouting: options.directRouting === undefined ? false : checkBoolean(`${field}.directRouting`, options.directRouting),
        gbp: options.gbp === undefined ? false : checkBoolean(`${field}.gbp`, options.gbp),
        encapsulationOverheadBytes: overhead,
        ...(mtu !== undefined ? { uplinkMtu: mtu } : {}),
      };
    }
    case FlannelBackendType.HOST_GW:
      checkKnownKeys(field, options, [], 'the host-gw backend');
      return { type: FlannelBackendType.HOST_GW, encapsulationOverheadBytes: overhead };
    case FlannelBackendType.WIREGUARD: {
      checkKnownKeys(field, options, WIREGUARD_KEYS, 'the wireguard backend');
      const listenPort = options.listenPort === undefined ? DEFAULT_WIREGUARD_PORT : checkPort(`${field}.listenPort`, options.listenPort);
      const listenPortV6 = options.listenPortV6 === undefined ? DEFAULT_WIREGUARD_PORT_IPV6
        : checkPort(`${field}.listenPortV6`, options.listenPortV6);
      const mode = options.mode === undefined ? WireGuardMode.SEPARATE
        : checkEnum(`${field}.mode`, options.mode, Object.values(WireGuardMode));
      if (mode === WireGuardMode.SEPARATE && ipv6 && listenPort === listenPortV6) {
        throw new ConflictError(`${field}.listenPortV6`, listenPortV6,
          `equals ${field}.listenPort: the IPv4 and IPv6 WireGuard devices of mode separate need different ports`);
      }
      return {
        type: FlannelBackendType.WIREGUARD,
        listenPort,
        listenPortV6,
        ...(options.pskSecretName !== undefined ? { pskSecretName: checkDnsSubdomain(`${field}.pskSecretName`, options.pskSecretName) } : {}),
        persistentKeepaliveSeconds: options.persistentKeepaliveSeconds === undefined ? 0
          : checkInteger(`${field}.persistentKeepaliveSeconds`, options.persistentKeepaliveSeconds, 0, 65535, 'seconds'),
        mode,
        encapsulationOverheadBytes: overhead,
      };
    }
    default:
      throw new ValidationError(`${field}.type`, (backend as { type: unknown }).type, `one of ${Object.values(FlannelBackendType).join(', ')}`);
  }
}
