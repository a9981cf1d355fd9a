import { ResourceApi } from './resource';
import { NETWORK_UNAVAILABLE, Node } from './types';

/**
 * The two node writes a network agent makes (flannel's and Calico's), both through the `status`
 * subresource, which is what their RBAC grants (`nodes/status: patch`).
 */

/**
 * Sets `desired` annotations (a null value removes one) with a strategic-merge patch, only for keys
 * whose value differs. Returns the patched node, or undefined when nothing had to change.
 */
export async function patchNodeAnnotations(nodes: ResourceApi<Node>, node: Node, desired: Readonly<Record<string, string | null>>): Promise<Node | undefined> {
  const current = node.metadata.annotations ?? {};
  const changed = Object.fromEntries(Object.entries(desired).filter(([key, value]) => (value === null ? key in current : current[key] !== value)));
  if (Object.keys(changed).length === 0) return undefined;
  return nodes.patch(node.metadata.name, { metadata: { annotations: changed } }, { subresource: 'status' });
}

/**
 * Sets the node condition NetworkUnavailable=False (flannel reason `FlannelIsUp`, Calico
 * `CalicoIsUp`) unless it is already so with the same reason. Returns true when it patched.
 */
export async function markNetworkAvailable(nodes: ResourceApi<Node>, node: Node, reason: string, message: string, now = new Date()): Promise<boolean> {
  const existing = node.status?.conditions?.find((c) => c.type === NETWORK_UNAVAILABLE);
  if (existing && existing.status === 'False' && existing.reason === reason) return false;
  const time = now.toISOString().replace(/\.\d+Z$/, 'Z');
  await nodes.patch(node.metadata.name, {
    status: { conditions: [{ type: NETWORK_UNAVAILABLE, status: 'False', reason, message, lastTransitionTime: time, lastHeartbeatTime: time }] },
  }, { subresource: 'status' });
  return true;
}
