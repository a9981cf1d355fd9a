import { IConstruct } from 'constructs';
import { CalicoNetwork as CalicoNetworkConstruct } from '../constructs/calico/calico-network';
import { FlannelNetwork as FlannelNetworkConstruct } from '../constructs/flannel/flannel-network';
import { calicoSummary } from './calico-network';
import { flannelSummary } from './flannel-network';
import { NetworkStackSummary } from './network-stack';

/** The summary of every network stack construct under `scope` (e.g. an App built for one environment). */
export function networkStackSummaries(scope: IConstruct): NetworkStackSummary[] {
  return scope.node.findAll().flatMap((construct) => {
    if (construct instanceof FlannelNetworkConstruct) return [flannelSummary(construct)];
    if (construct instanceof CalicoNetworkConstruct) return [calicoSummary(construct)];
    return [];
  });
}
