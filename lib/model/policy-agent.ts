/**
 * The policy agent (apps/policy-agent.ts, docs/policy.md) as the manifests run it: shipped in both agent
 * images as `cnikit-policy-agent`, run beside the node agent with the Kubernetes datastore.
 */
export const POLICY_AGENT = {
  executable: 'cnikit-policy-agent',
  containerName: 'policy-agent',
} as const;

/**
 * How the engine finds a node's pods: by `cali*` interface (Calico-style: every pod packet is routed)
 * or by pod address (Flannel-style: same-node traffic is bridged on cni0, the interfaces are the bridge's).
 */
export type PolicyAgentMode = 'interface' | 'address';

/**
 * The agent's command-line flags in a pod: the API server through the pod's service account, the node
 * name from the `NODE_NAME` downward-API variable (expanded by the kubelet), and nftables, which the
 * agent images ship (so `auto` would pick it anyway; naming it keeps the container's capabilities fixed).
 * In the Calico-style stack (interface mode) it also obeys FelixConfiguration `default` / `node.<name>`
 * (`--felix-configuration`: log level, `nftablesRefreshInterval`, `defaultEndpointToHostAction`), as
 * Felix's policy half does.
 */
export function policyAgentArgs(mode: PolicyAgentMode): string[] {
  return ['--datastore=kubernetes', '--node-name=$(NODE_NAME)', `--mode=${mode}`, '--backend=nft', ...(mode === 'interface' ? ['--felix-configuration'] : [])];
}
