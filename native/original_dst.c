/*
 * originalDestination(fd, family): where a connection that iptables REDIRECTed to this process was
 * going before it was redirected: the netfilter NAT entry's original destination, read with
 * getsockopt(SO_ORIGINAL_DST) (IPv4) or getsockopt(IP6T_SO_ORIGINAL_DST) (IPv6). Node has no
 * getsockopt, so this is the one native piece of Tandem: a Node-API module (ABI-stable across Node
 * versions), compiled by scripts/build-native.mjs against the node-api-headers package.
 *
 * Returns [address, port], or null when the connection was not NATed (the kernel answers ENOENT);
 * throws on any other error (not a socket, not TCP).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, "TANDEM_ORIGINAL_DST", message);
  return NULL;
}

static napi_value original_destination(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  int32_t family = 4;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return fail(env, "expected (fd, family)");
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &family) != napi_ok) {
    return fail(env, "fd and family must be numbers");
  }

  struct sockaddr_storage storage;
  socklen_t length = sizeof storage;
  memset(&storage, 0, sizeof storage);
  int status = family == 6 ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &storage, &length)
                           : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &storage, &length);
  if (status != 0) {
    if (errno == ENOENT) {
      napi_value nothing;
      napi_get_null(env, &nothing);
      return nothing;
    }
    return fail(env, strerror(errno));
  }

  char text[INET6_ADDRSTRLEN];
  uint16_t port;
  if (storage.ss_family == AF_INET6) {
    const struct sockaddr_in6 *address = (const struct sockaddr_in6 *)&storage;
    inet_ntop(AF_INET6, &address->sin6_addr, text, sizeof text);
    port = ntohs(address->sin6_port);
  } else {
    const struct sockaddr_in *address = (const struct sockaddr_in *)&storage;
    inet_ntop(AF_INET, &address->sin_addr, text, sizeof text);
    port = ntohs(address->sin_port);
  }
  napi_value result, host, number;
  napi_create_array_with_length(env, 2, &result);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &host);
  napi_create_uint32(env, port, &number);
  napi_set_element(env, result, 0, host);
  napi_set_element(env, result, 1, number);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value function;
  napi_create_function(env, "originalDestination", NAPI_AUTO_LENGTH, original_destination, NULL, &function);
  napi_set_named_property(env, exports, "originalDestination", function);
  return exports;
}
