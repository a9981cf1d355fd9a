import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { CALICO_TYPHA } from '../../model/calico/agent';
import { kitLabels, kitSelectorLabels } from '../common/labels';
import { CALICO_NAMES, CALICO_STACK_NAME, UPSTREAM_APP_LABEL } from './names';
import { clusterComponentSecurityContext, podDisruptionBudget, scheduleClusterCritical } from './workload-defaults';

export interface CalicoTyphaProps {
  readonly namespace: string;
  readonly image: string;
  /** From the model: typhaReplicasFor(nodeCount) unless set explicitly. */
  readonly replicas: number;
}

/**
 * Typha: one watch on the API server per replica instead of one per node, fanned out to the
 * agents on port 5473. Host network (agents reach it before the pod network exists), so
 * replicas land on distinct nodes; a Service for discovery and a PodDisruptionBudget.
 */
export class CalicoTypha extends Construct {
  public readonly deployment: kplus.Deployment;
  public readonly service: kplus.k8s.KubeService;

  constructor(scope: Construct, id: string, props: CalicoTyphaProps) {
    super(scope, id);
    const selector = kitSelectorLabels(CALICO_STACK_NAME, 'typha');
    const labels = { ...kitLabels(CALICO_STACK_NAME, 'typha'), [UPSTREAM_APP_LABEL]: CALICO_NAMES.typha };
    const probe = (path: string) => kplus.Probe.fromHttpGet(path, {
      port: CALICO_TYPHA.healthPort, host: 'localhost', periodSeconds: Duration.seconds(10), timeoutSeconds: Duration.seconds(10),
    });
    this.deployment = new kplus.Deployment(this, 'Resource', {
      metadata: { name: CALICO_NAMES.typha, namespace: props.namespace, labels },
      podMetadata: { labels },
      select: false,
      replicas: props.replicas,
      // A new pod needs a node without a Typha (fixed host port): surge freely, lose at most one.
      strategy: kplus.DeploymentStrategy.rollingUpdate({
        maxSurge: kplus.PercentOrAbsolute.percent(100), maxUnavailable: kplus.PercentOrAbsolute.absolute(1),
      }),
      serviceAccount: kplus.ServiceAccount.fromServiceAccountName(this, 'ServiceAccount', CALICO_NAMES.typha),
      automountServiceAccountToken: true,
      hostNetwork: true,
      dns: { policy: kplus.DnsPolicy.CLUSTER_FIRST_WITH_HOST_NET },
      securityContext: { ensureNonRoot: true },
      // Upstream: time for connected agents to move to another replica gradually.
      terminationGracePeriod: Duration.seconds(300),
      containers: [{
        name: CALICO_NAMES.typha,
        image: props.image,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        command: [CALICO_TYPHA.executable],
        envVariables: {
          TYPHA_DATASTORETYPE: kplus.EnvValue.fromValue('kubernetes'),
          TYPHA_PORT: kplus.EnvValue.fromValue(String(CALICO_TYPHA.port)),
          TYPHA_HEALTHENABLED: kplus.EnvValue.fromValue('true'),
          TYPHA_HEALTHHOST: kplus.EnvValue.fromValue('localhost'),
          TYPHA_HEALTHPORT: kplus.EnvValue.fromValue(String(CALICO_TYPHA.healthPort)),
        },
        // Declared so that the scheduler gives every replica a node of its own (host network: hostPort = 5473).
        ports: [{ number: CALICO_TYPHA.port, name: 'calico-typha', protocol: kplus.Protocol.TCP }],
        resources: { cpu: { request: kplus.Cpu.millis(100) }, memory: { request: Size.mebibytes(128), limit: Size.mebibytes(1024) } },
        securityContext: clusterComponentSecurityContext(),
        liveness: probe('/liveness'),
        readiness: probe('/readiness'),
      }],
    });
    scheduleClusterCritical(this.deployment, selector);

    // L1: the selector is the stable component labels (cdk8s-plus would select on a path hash).
    this.service = new kplus.k8s.KubeService(this, 'Service', {
      metadata: { name: CALICO_NAMES.typha, namespace: props.namespace, labels },
      spec: {
        selector: { ...selector },
        ports: [{ name: 'calico-typha', port: CALICO_TYPHA.port, targetPort: kplus.k8s.IntOrString.fromNumber(CALICO_TYPHA.port), protocol: 'TCP' }],
      },
    });
    podDisruptionBudget(this, 'PodDisruptionBudget', CALICO_NAMES.typha, props.namespace, selector, labels);
  }
}
