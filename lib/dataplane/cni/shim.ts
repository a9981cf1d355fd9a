/**
 * The `cnikit-flannel` executable when a resident CNI server runs on the node: a bash script
 * (bash starts in a few ms; Node takes tens) that forwards the invocation to the server over
 * loopback TCP (`/dev/tcp`) and prints its answer. When the server cannot be reached it runs the
 * full Node plugin instead, so pods still get networking while the agent pod restarts.
 */
export interface CniShimOptions {
  /** The server's loopback port. */
  readonly port: number;
  /** File holding the server's token (mode 0600). */
  readonly tokenFile: string;
  /** The Node binary and the bundled plugin for the fallback. */
  readonly node: string;
  readonly plugin: string;
}

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

export function renderCniShim(options: CniShimOptions): string {
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new Error(`cni shim port: ${options.port} is not valid; expected a TCP port 1-65535`);
  }
  return `#!/bin/bash
# cnikit CNI shim: forwards to the resident cnikit CNI server, else runs the Node plugin.
IFS= read -r -d '' conf
if [ "$CNI_COMMAND" != VERSION ] && IFS= read -r token < ${quote(options.tokenFile)} 2>/dev/null \\
   && exec 3<>/dev/tcp/127.0.0.1/${options.port}; then
  printf '%s\\0' "$token" "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "$conf" >&3
  if IFS= read -r code <&3 && [ -n "$code" ] && [ "$code" -eq "$code" ] 2>/dev/null; then
    IFS= read -r -d '' out <&3
    [ -n "$out" ] && printf '%s\\n' "$out"
    exit "$code"
  fi
  exec 3<&-
fi 2>/dev/null
printf '%s' "$conf" | exec ${quote(options.node)} ${quote(options.plugin)}
`;
}
