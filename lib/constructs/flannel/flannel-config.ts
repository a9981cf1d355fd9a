import { createHash } from 'crypto';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { flannelCniConfList } from '../../model/flannel/cni-conf';
import { flannelNetConf } from '../../model/flannel/net-conf';
import { ResolvedFlannelNetwork } from '../../model/flannel/network';

export interface FlannelConfigProps {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Record<string, string>;
  readonly network: ResolvedFlannelNetwork;
}

/** The ConfigMap with the CNI conflist (`cni-conf.json`) and the agent's `net-conf.json`, as upstream. */
export class FlannelConfig extends Construct {
  /** Keys of the ConfigMap, as in the upstream manifest. */
  public static readonly CNI_CONF_KEY = 'cni-conf.json';
  public static readonly NET_CONF_KEY = 'net-conf.json';

  public readonly configMap: kplus.ConfigMap;
  /** The first 16 hex digits of the SHA-256 of the ConfigMap's data. */
  public readonly contentHash: string;

  constructor(scope: Construct, id: string, props: FlannelConfigProps) {
    super(scope, id);
    const data = {
      [FlannelConfig.CNI_CONF_KEY]: `${JSON.stringify(flannelCniConfList(), null, 2)}\n`,
      [FlannelConfig.NET_CONF_KEY]: `${JSON.stringify(flannelNetConf(props.network), null, 2)}\n`,
    };
    this.contentHash = createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 16);
    this.configMap = new kplus.ConfigMap(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      data,
    });
  }
}
