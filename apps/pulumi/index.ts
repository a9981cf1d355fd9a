// The Pulumi program (Pulumi.yaml `main`): one bundled environment per stack. See docs/pulumi.md.
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { deployEnvironment } from './program';

const outputs = deployEnvironment(pulumi.runtime.allConfig(), path.resolve(__dirname, '..', '..'));

export const environment = outputs.environment;
export const namespace = outputs.namespace;
export const agentDaemonSet = outputs.agentDaemonSet;
export const podNetworks = outputs.podNetworks;
export const images = outputs.images;
export const objects = outputs.objects;
