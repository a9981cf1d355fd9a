import { ApiObject, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';

/**
 * Helpers for node-agent DaemonSets, where several cdk8s-plus defaults are wrong: they assume an
 * unprivileged web workload (non-root, read-only root filesystem, 1-2 CPU limits, pull Always, an
 * automatic TCP startup probe, no service account token, no update strategy).
 */

/** Security context of a container that programs the host's network: root, listed capabilities only, not privileged. */
export function nodeAgentSecurityContext(capabilities: kplus.Capability[]): kplus.ContainerSecurityContextProps {
  return {
    ensureNonRoot: false,
    user: 0,
    privileged: false,
    allowPrivilegeEscalation: false,
    // The agent writes its state to host paths only, but its runtime may need scratch space (/tmp).
    readOnlyRootFilesystem: false,
    capabilities: { add: capabilities },
  };
}

/** Resource requests with no CPU limit (throttling a network agent stalls every pod on the node). */
export function nodeAgentResources(cpuRequestMillis: number, memoryRequestMebibytes: number, memoryLimitMebibytes?: number): kplus.ContainerResources {
  return {
    cpu: { request: kplus.Cpu.millis(cpuRequestMillis) },
    memory: {
      request: Size.mebibytes(memoryRequestMebibytes),
      ...(memoryLimitMebibytes !== undefined ? { limit: Size.mebibytes(memoryLimitMebibytes) } : {}),
    },
  };
}

/**
 * Sets `spec.updateStrategy` (cdk8s-plus-28's DaemonSet omits it): RollingUpdate replacing at most
 * `maxUnavailable` nodes' pods at a time. The L1 converter keeps only IntOrString instances.
 */
export function setRollingUpdate(daemonSet: kplus.DaemonSet, maxUnavailable: number): void {
  ApiObject.of(daemonSet).addJsonPatch(JsonPatch.add('/spec/updateStrategy', {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: kplus.k8s.IntOrString.fromNumber(maxUnavailable) },
  }));
}

/** Sets the pod template's `priorityClassName` (no cdk8s-plus prop for it). */
export function setPriorityClassName(daemonSet: kplus.DaemonSet, priorityClassName: string): void {
  ApiObject.of(daemonSet).addJsonPatch(JsonPatch.add('/spec/template/spec/priorityClassName', priorityClassName));
}

/**
 * Removes the startup probe cdk8s-plus adds to every container with a port: a node agent's liveness
 * probe already waits for start-up, and a TCP probe on a host-network port proves nothing.
 */
export function removeStartupProbe(daemonSet: kplus.DaemonSet, containerIndex: number): void {
  ApiObject.of(daemonSet).addJsonPatch(JsonPatch.remove(`/spec/template/spec/containers/${containerIndex}/startupProbe`));
}

/**
 * Drops the `cdk8s.io/metadata.addr` label cdk8s-plus puts on every pod template: it encodes the
 * construct path, so moving the construct would change the pods' labels and roll every node.
 */
export function removeConstructPathLabel(daemonSet: kplus.DaemonSet): void {
  ApiObject.of(daemonSet).addJsonPatch(JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'));
}

/** A hostPath volume. */
export function hostPathVolume(daemonSet: kplus.DaemonSet, name: string, path: string, type: kplus.HostPathVolumeType): kplus.Volume {
  return kplus.Volume.fromHostPath(daemonSet, `${name}-volume`, name, { path, type });
}

/** The downward-API variables every node agent gets: its node, pod and namespace. */
export function downwardApiEnv(): Record<string, kplus.EnvValue> {
  return {
    NODE_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.NODE_NAME),
    POD_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAME),
    POD_NAMESPACE: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAMESPACE),
  };
}
