import { FLANNEL_AGENT, FLANNEL_CNI } from './agent';

/** The CNI network configuration list installed on every node. */
export interface CniConfList {
  readonly cniVersion: string;
  readonly name: string;
  readonly plugins: readonly Readonly<Record<string, unknown>>[];
}

/**
 * The conflist: the kit's plugin (flannel's NetConf keys: `subnetFile`, `dataDir`, `delegate`),
 * then Debian's/upstream's `portmap` for `hostPort`s, as the upstream manifest chains them.
 */
export function flannelCniConfList(): CniConfList {
  return {
    cniVersion: FLANNEL_CNI.cniVersion,
    name: FLANNEL_CNI.networkName,
    plugins: [
      {
        type: FLANNEL_CNI.pluginType,
        subnetFile: FLANNEL_AGENT.subnetFile,
        dataDir: FLANNEL_CNI.dataDir,
        delegate: { hairpinMode: true, isDefaultGateway: true },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}
