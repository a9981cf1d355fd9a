import { MAX_CONF_BYTES } from './errors';

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
  // Each CNI_* variable goes as "=<value>" when set (even empty) and "" when unset, so the server checks
  // the environment exactly as the executable does (CNI_PATH unset is error 4, not an empty path).
  const env = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'].map((v) => `"\${${v}+=$${v}}"`).join(' ');
  return `#!/bin/bash
# cnikit CNI shim: forwards to the resident cnikit CNI server, else runs the Node plugin.
# stdin is read in one go and at most ${MAX_CONF_BYTES + 1} bytes: more is refused (error 6) by whichever answers.
conf=$(head -c ${MAX_CONF_BYTES + 1})
if [ "$CNI_COMMAND" != VERSION ] && IFS= read -r token < ${quote(options.tokenFile)} 2>/dev/null \
   && exec 3<>/dev/tcp/127.0.0.1/${options.port}; then
  printf '%s\\0' "$token" ${env} "$conf" >&3
  # no timeout here: the server answers every request (its datastore calls have a deadline); a
  # connection that ends without an answer (the server died) falls back to the plugin below
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
