import { createRequire } from 'node:module';
import * as path from 'node:path';

/**
 * TCP-MD5 (RFC 2385) is a socket option (TCP_MD5SIG) set per peer address. Node's `net` module
 * cannot set it, so the kit ships one small native addon (native/tcp-md5, built into the agent's
 * image beside its bundle). Node also opens outgoing sockets and connects in one step, leaving no
 * moment to set the key first: a password peer is therefore passive — its key is installed on the
 * listening socket and the peer opens the session, as a router configured with the password does.
 */
export interface TcpMd5 {
  /** Installs the key for `address` on the socket `fd` (an empty key removes it). Throws on failure. */
  setKey(fd: number, address: string, key: string): void;
}

/** RFC 2385 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN). */
export const TCP_MD5_MAX_KEY_BYTES = 80;

let loaded: TcpMd5 | null | undefined;

/**
 * The addon: `CNIKIT_TCP_MD5_ADDON`, else `tcp-md5.node` beside the running bundle (the images),
 * else none (the caller refuses password peers).
 */
export function loadTcpMd5(): TcpMd5 | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  const candidates = [process.env.CNIKIT_TCP_MD5_ADDON, require.main ? path.join(path.dirname(require.main.filename), 'tcp-md5.node') : undefined];
  loaded = null;
  for (const file of candidates) {
    if (!file) continue;
    try {
      // A native addon is loaded by path at run time (the bundle cannot inline it).
      loaded = createRequire(__filename)(file) as TcpMd5;
      break;
    } catch {
      // next candidate
    }
  }
  return loaded ?? undefined;
}

/** Why a password peer is refused, in one line; the session is never run unauthenticated. */
export function tcpMd5Unsupported(peer: string, reason = 'the tcp-md5 addon is not installed beside this speaker (set CNIKIT_TCP_MD5_ADDON)'): string {
  return `bgp: peer ${peer}: password (TCP-MD5, RFC 2385) is configured but this speaker cannot set TCP_MD5SIG: ${reason}; session not started`;
}
