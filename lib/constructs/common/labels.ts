import { KIT_VERSION } from '../../model/images';

/**
 * The recommended `app.kubernetes.io/*` labels of one component of a cnikit stack. `name` identifies
 * the stack (e.g. `cnikit-flannel`), `component` the part (e.g. `node-agent`).
 */
export function kitLabels(name: string, component?: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': name,
    ...(component !== undefined ? { 'app.kubernetes.io/component': component } : {}),
    'app.kubernetes.io/part-of': 'cnikit',
    'app.kubernetes.io/version': KIT_VERSION,
  };
}

/** The labels that select a component's pods: stable across versions (a DaemonSet selector is immutable). */
export function kitSelectorLabels(name: string, component: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': component };
}
