import * as kplus from 'cdk8s-plus-28';
import { CNI_SERVER, cniServerArgs } from '../../model/cni-server';
import { hostPathVolume, nodeAgentResources } from './node-agent';

/** The installer's `shim` option for thick-plugin mode (cni-installer.ts). */
export const CNI_SERVER_SHIM = { port: CNI_SERVER.port, tokenFile: CNI_SERVER.tokenFile } as const;

/** CPU the resident CNI server requests: its share of the node when pods start in a burst. */
export const CNI_SERVER_CPU_REQUEST_MILLIS = 100;

/**
 * Adds the resident CNI server (docs/cni.md, thick-plugin mode) to a node agent's DaemonSet (host
 * network): the plugin's logic in a process that is already up, so a pod's ADD costs no Node start-up.
 * It does on the host exactly what the plugin does, so it gets what the plugin has there: `stateMounts`
 * are the host paths the stack's plugin reads and writes (at the same paths, since the conflist the shim
 * forwards names host paths).
 */
export function addCniServer(ds: kplus.DaemonSet, image: string, stateMounts: readonly kplus.VolumeMount[]): void {
  const dir = kplus.HostPathVolumeType.DIRECTORY_OR_CREATE;
  const netns = hostPathVolume(ds, 'netns', CNI_SERVER.netnsDir, dir);
  const token = hostPathVolume(ds, 'cni-server-token', CNI_SERVER.tokenDir, dir);
  ds.addContainer({
    name: 'cni-server',
    image,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: [CNI_SERVER.executable],
    args: cniServerArgs(),
    // Privileged, as the plugin it stands in for (the container runtime runs that as root with every
    // capability): it enters each pod's network namespace (setns: CAP_SYS_ADMIN) and `ip -n` remounts
    // /sys in a private mount namespace there, which the runtimes' default AppArmor/seccomp profiles
    // deny even with CAP_SYS_ADMIN.
    securityContext: { ensureNonRoot: false, user: 0, privileged: true, allowPrivilegeEscalation: true, readOnlyRootFilesystem: false },
    // No probes: it listens on the node's loopback only, which kubelet cannot reach; if it exits the
    // container restarts and meanwhile the shim runs the plugin itself.
    // The plugin runs in the runtime's cgroup; here the same work competes with the pod's other
    // containers by CPU shares, and pod creation waits on it: at 10m a burst of 40 ADDs on one node of the
    // cluster lab took 40% longer than with the agent's share (the IPAM lock turns stretch when starved).
    resources: nodeAgentResources(CNI_SERVER_CPU_REQUEST_MILLIS, 40),
    volumeMounts: [
      // Pod namespaces the runtime pins after this container started must show up here.
      { path: CNI_SERVER.netnsDir, volume: netns, propagation: kplus.MountPropagation.HOST_TO_CONTAINER },
      ...stateMounts,
      // The token the server writes at start and the shim on the host reads.
      { path: CNI_SERVER.tokenDir, volume: token },
    ],
  });
}
