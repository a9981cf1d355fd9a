import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { CALICO_CONTROLLERS } from '../../model/calico/agent';
import { kitLabels, kitSelectorLabels } from '../common/labels';
import { CALICO_NAMES, CALICO_STACK_NAME, UPSTREAM_APP_LABEL } from './names';
import { clusterComponentSecurityContext, podDisruptionBudget, scheduleClusterCritical } from './workload-defaults';

export interface CalicoControllersProps {
  readonly namespace: string;
  readonly image: string;
}

/**
 * `calico-kube-controllers`: one replica (the controllers hold no leader election, so exactly one
 * may run: Recreate, never two at once), `system-cluster-critical`, with a PodDisruptionBudget.
 * Only the node controller runs (IPAM garbage collection and clean-up after deleted nodes): the
 * kit has no LoadBalancer IPAM, and policy/namespace/service-account sync is only needed with etcd.
 */
export class CalicoControllers extends Construct {
  public readonly deployment: kplus.Deployment;

  constructor(scope: Construct, id: string, props: CalicoControllersProps) {
    super(scope, id);
    const selector = kitSelectorLabels(CALICO_STACK_NAME, 'controllers');
    const labels = { ...kitLabels(CALICO_STACK_NAME, 'controllers'), [UPSTREAM_APP_LABEL]: CALICO_NAMES.controllers };
    const probe = (path: string) => kplus.Probe.fromHttpGet(path, {
      port: CALICO_CONTROLLERS.healthPort, periodSeconds: Duration.seconds(10), timeoutSeconds: Duration.seconds(10), failureThreshold: 6,
    });
    this.deployment = new kplus.Deployment(this, 'Resource', {
      metadata: { name: CALICO_NAMES.controllers, namespace: props.namespace, labels },
      podMetadata: { labels },
      select: false,
      replicas: 1,
      strategy: kplus.DeploymentStrategy.recreate(),
      serviceAccount: kplus.ServiceAccount.fromServiceAccountName(this, 'ServiceAccount', CALICO_NAMES.controllers),
      automountServiceAccountToken: true,
      securityContext: { ensureNonRoot: true },
      containers: [{
        name: CALICO_NAMES.controllers,
        image: props.image,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        command: [CALICO_CONTROLLERS.executable],
        envVariables: {
          DATASTORE_TYPE: kplus.EnvValue.fromValue('kubernetes'),
          ENABLED_CONTROLLERS: kplus.EnvValue.fromValue('node'),
          HEALTH_PORT: kplus.EnvValue.fromValue(String(CALICO_CONTROLLERS.healthPort)),
        },
        resources: { cpu: { request: kplus.Cpu.millis(50) }, memory: { request: Size.mebibytes(64), limit: Size.mebibytes(512) } },
        securityContext: clusterComponentSecurityContext(),
        liveness: probe('/liveness'),
        readiness: probe('/readiness'),
      }],
    });
    scheduleClusterCritical(this.deployment, selector);
    podDisruptionBudget(this, 'PodDisruptionBudget', CALICO_NAMES.controllers, props.namespace, selector, labels);
  }
}
