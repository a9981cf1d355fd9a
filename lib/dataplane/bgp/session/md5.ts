/**
 * TCP-MD5 (RFC 2385) is a socket option (TCP_MD5SIG) set per peer before connect/accept. Node's
 * `net` module cannot set arbitrary socket options and cnikit ships no native addon, so a
 * configured password cannot be honoured: the speaker refuses that peer with this message rather
 * than running the session unauthenticated.
 */
export function tcpMd5Unsupported(peer: string): string {
  return `bgp: peer ${peer}: password (TCP-MD5, RFC 2385) is configured but this speaker cannot set TCP_MD5SIG (Node.js has no setsockopt without a native addon); session not started`;
}
