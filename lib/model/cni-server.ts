/**
 * Thick-plugin mode (docs/cni.md), shared by both stacks: the resident CNI server in the node agent's pod
 * (`cnikit-cni-server`, shipped in both agent images) and the shim the installer writes as the plugin,
 * which reaches it on the node's loopback with the token.
 */
export const CNI_SERVER = {
  executable: 'cnikit-cni-server',
  port: 7331,
  /** A host directory only root can read (the server creates it 0700), shared by the server and the shim. */
  tokenDir: '/run/cnikit',
  tokenFile: '/run/cnikit/cni-server.token',
  /** Where runtimes pin pod network namespaces (CNI_NETNS); the server enters them. */
  netnsDir: '/var/run/netns',
} as const;

/** The CNI server's command-line flags (apps/cni-server.ts). */
export function cniServerArgs(): string[] {
  return [`--port=${CNI_SERVER.port}`, `--token-file=${CNI_SERVER.tokenFile}`];
}
