// TCP-MD5 (RFC 2385) keys on a socket, for the BGP speaker: Node's net module has no setsockopt.
// setKey(fd, peerAddress, key): installs (or, with an empty key, removes) the key for one peer
// address on a socket; on a listening socket the kernel checks every SYN from that address and the
// accepted connection inherits the key. An IPv4 peer on an IPv6 socket is given as v4-mapped.
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value set_key(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) return fail(env, "setKey(fd, address, key)");
  int32_t fd;
  char address[INET6_ADDRSTRLEN + 1];
  char key[TCP_MD5SIG_MAXKEYLEN + 2];
  size_t address_len, key_len;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) return fail(env, "fd: expected an integer");
  if (napi_get_value_string_utf8(env, argv[1], address, sizeof address, &address_len) != napi_ok) return fail(env, "address: expected a string");
  if (napi_get_value_string_utf8(env, argv[2], key, sizeof key, &key_len) != napi_ok) return fail(env, "key: expected a string");
  if (key_len > TCP_MD5SIG_MAXKEYLEN) return fail(env, "key: longer than 80 bytes");

  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) return fail(env, strerror(errno));

  struct tcp_md5sig sig;
  memset(&sig, 0, sizeof sig);
  struct in_addr v4;
  struct in6_addr v6;
  if (local.ss_family == AF_INET6) {
    struct sockaddr_in6 *peer = (struct sockaddr_in6 *)&sig.tcpm_addr;
    peer->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, address, &v6) == 1) {
      peer->sin6_addr = v6;
    } else if (inet_pton(AF_INET, address, &v4) == 1) {
      peer->sin6_addr.s6_addr[10] = 0xff;
      peer->sin6_addr.s6_addr[11] = 0xff;
      memcpy(&peer->sin6_addr.s6_addr[12], &v4, 4);
    } else {
      return fail(env, "address: not an IP address");
    }
  } else {
    struct sockaddr_in *peer = (struct sockaddr_in *)&sig.tcpm_addr;
    peer->sin_family = AF_INET;
    if (inet_pton(AF_INET, address, &v4) != 1) return fail(env, "address: not an IPv4 address (IPv4 socket)");
    peer->sin_addr = v4;
  }
  sig.tcpm_keylen = (unsigned short)key_len;
  memcpy(sig.tcpm_key, key, key_len);
  if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) != 0) {
    // Removing a key that is not there is not an error.
    if (key_len == 0 && errno == ENOENT) return NULL;
    return fail(env, strerror(errno));
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "setKey", NAPI_AUTO_LENGTH, set_key, NULL, &fn);
  napi_set_named_property(env, exports, "setKey", fn);
  return exports;
}
