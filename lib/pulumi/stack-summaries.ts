import { IConstruct } from 'constructs';
import { FlannelNetwork as FlannelNetworkConstruct } from '../constructs/flannel/flannel-network';
import { flannelSummary } from './flannel-network';
import { NetworkStackSummary } from './network-stack';

/** The summary of every network stack construct under `scope` (e.g. an App built for one environment). */
export function networkStackSummaries(scope: IConstruct): NetworkStackSummary[] {
  return scope.node.findAll().flatMap((construct) => (construct instanceof FlannelNetworkConstruct ? [flannelSummary(construct)] : []));
}
