/**
 * Object names of the Calico-style stack. They match the upstream manifest (`calico.yaml`) where an
 * object has an upstream twin, so runbooks and `kubectl -n kube-system get ds calico-node` keep working.
 */
export const CALICO_NAMES = {
  agent: 'calico-node',
  cniPlugin: 'calico-cni-plugin',
  controllers: 'calico-kube-controllers',
  typha: 'calico-typha',
  config: 'calico-config',
} as const;

/** The `app.kubernetes.io/name` of every object of the stack. */
export const CALICO_STACK_NAME = 'cnikit-calico';

/** Upstream's pod label, kept on pods (not in selectors) so `-l k8s-app=calico-node` still finds them. */
export const UPSTREAM_APP_LABEL = 'k8s-app';
