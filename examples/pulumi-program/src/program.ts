// The program's entry (Pulumi.yaml `main`): the stack outputs of platformNetwork.
import { main } from './index';

const outputs = main();
export const namespace = outputs.namespace;
export const agentDaemonSet = outputs.agentDaemonSet;
export const podNetworks = outputs.podNetworks;
export const images = outputs.images;
export const policies = outputs.policies;
