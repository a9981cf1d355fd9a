import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';

/**
 * A cluster-level component (controllers, Typha) runs as a non-root user with no capabilities and
 * a read-only root filesystem: it only talks to the API server.
 */
export function clusterComponentSecurityContext(): kplus.ContainerSecurityContextProps {
  return {
    ensureNonRoot: true,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: [kplus.Capability.ALL] },
    seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
  };
}

/**
 * Pod-template settings cdk8s-plus has no prop for: priority class and the Linux node selector; and
 * without the `cdk8s.io/metadata.addr` label (it encodes the construct path, so moving the construct
 * would relabel and restart the pods).
 */
export function setPodTemplateExtras(workload: kplus.Deployment, priorityClassName: string): void {
  ApiObject.of(workload).addJsonPatch(
    JsonPatch.add('/spec/template/spec/priorityClassName', priorityClassName),
    JsonPatch.add('/spec/template/spec/nodeSelector', { 'kubernetes.io/os': 'linux' }),
    JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'),
  );
}

/**
 * Scheduling of a cluster-critical Deployment: selected by its stable component labels, allowed onto
 * control-plane nodes and nodes reserved for critical add-ons, with the pod-template extras above.
 */
export function scheduleClusterCritical(workload: kplus.Deployment, selector: Readonly<Record<string, string>>): void {
  workload.select(kplus.LabelSelector.of({ labels: { ...selector } }));
  workload.scheduling.tolerate(kplus.Node.tainted(
    kplus.NodeTaintQuery.exists('CriticalAddonsOnly'),
    kplus.NodeTaintQuery.exists('node-role.kubernetes.io/control-plane', { effect: kplus.TaintEffect.NO_SCHEDULE }),
  ));
  setPodTemplateExtras(workload, 'system-cluster-critical');
}

/** A PodDisruptionBudget allowing one pod down at a time (L1: cdk8s-plus-28 has no PDB). */
export function podDisruptionBudget(scope: Construct, id: string, name: string, namespace: string,
  selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): kplus.k8s.KubePodDisruptionBudget {
  return new kplus.k8s.KubePodDisruptionBudget(scope, id, {
    metadata: { name, namespace, labels: { ...labels } },
    spec: { maxUnavailable: kplus.k8s.IntOrString.fromNumber(1), selector: { matchLabels: { ...selector } } },
  });
}
