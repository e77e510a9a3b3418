// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Socket-level Service translation, attached to a cgroup v2 folder (the root
 * on a node: every pod and the host). A connection to a Service frontend is
 * pointed at a backend once, when the application connects (TCP, connected
 * UDP) or sends (unconnected UDP); its packets then carry the backend's
 * address from the start, so no per-packet NAT happens anywhere. The
 * application keeps seeing the Service address: replies (recvmsg) and
 * getpeername are translated back through weft_lb4_sock_rev. IPv6 sockets
 * reaching a Service by its v4-mapped address are translated alike.
 *
 * A frontend without backends refuses the connection at once (ECONNREFUSED):
 * the client gets a refusal, not a timeout. So does an address of the
 * cluster's Service ranges (weft_lb4_range) that is no frontend: a deleted
 * Service, or a port its Service does not have.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <stdbool.h>
#include <stddef.h>

#include "bpf/lib/lb.h"

#ifndef ECONNREFUSED
#define ECONNREFUSED 111
#endif

/* cgroup sock_addr verdicts. */
#define SYS_REJECT 0
#define SYS_PROCEED 1

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_LB4_SOCK_REV_MAX);
	__type(key, struct lb4_sock_rev_key);
	__type(value, struct lb4_sock_rev);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_LB4_SOCK_REV_MAP SEC(".maps");

/* An address of the cluster's Service ranges. */
static __always_inline bool sock_lb_in_range(__be32 addr)
{
	struct lpm4_key key = {.prefixlen = 32, .addr = addr};

	return bpf_map_lookup_elem(&WEFT_LB4_RANGE_MAP, &key) != NULL;
}

/* The translation of a connection (or datagram) to addr:port of the calling
 * socket: 1 with *addr and *port set to the backend, 0 when it is not for a
 * Service frontend (or another proxy's), -1 to refuse: the frontend has no
 * backend, or the address is in a Service range and no frontend. */
static __always_inline int sock_lb_forward(struct bpf_sock_addr *ctx, __be32 *addr, __be16 *port)
{
	struct lb4_sock_rev_key rkey = {};
	struct lb4_sock_rev rev = {};
	const struct lb4_backend *be;
	struct lb4_service *entry;
	struct lb4_service svc;
	struct lb4_key key = {};
	__u32 backend_id = 0;
	__u8 proto;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return 0;
	proto = (__u8)ctx->protocol;
	key.addr = *addr;
	key.port = *port;
	key.proto = proto;
	key.scope = LB4_SCOPE_SOCKET;
	entry = bpf_map_lookup_elem(&WEFT_LB4_SVC_MAP, &key);
	if (!entry)
		return sock_lb_in_range(key.addr) ? -1 : 0;
	svc = *entry;
	if (svc.flags & LB4_F_PASS)
		return 0;
	be = lb4_pick(&key, &svc, bpf_get_netns_cookie(ctx), bpf_get_prandom_u32(), &backend_id);
	if (!be)
		return -1;
	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.addr = be->addr;
	rkey.port = be->port;
	rev.addr = key.addr;
	rev.port = key.port;
	rev.id = svc.id;
	bpf_map_update_elem(&WEFT_LB4_SOCK_REV_MAP, &rkey, &rev, BPF_ANY);
	*addr = be->addr;
	*port = be->port;
	return 1;
}

/* The frontend a translated socket's peer addr:port stands for: true with
 * *addr and *port set to it. */
static __always_inline bool sock_lb_reverse(struct bpf_sock_addr *ctx, __be32 *addr, __be16 *port)
{
	struct lb4_sock_rev_key rkey = {};
	struct lb4_sock_rev *rev;

	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.addr = *addr;
	rkey.port = *port;
	rev = bpf_map_lookup_elem(&WEFT_LB4_SOCK_REV_MAP, &rkey);
	if (!rev)
		return false;
	*addr = rev->addr;
	*port = rev->port;
	return true;
}

static __always_inline int sock_lb_refuse(void)
{
	bpf_set_retval(-ECONNREFUSED);
	return SYS_REJECT;
}

static __always_inline int sock4_translate(struct bpf_sock_addr *ctx)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	int ret = sock_lb_forward(ctx, &addr, &port);

	if (ret < 0)
		return sock_lb_refuse();
	if (ret > 0) {
		ctx->user_ip4 = addr;
		ctx->user_port = (__u32)port;
	}
	return SYS_PROCEED;
}

/* The peer a translated socket talks to, shown as the Service frontend. */
static __always_inline int sock4_reverse(struct bpf_sock_addr *ctx)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;

	if (sock_lb_reverse(ctx, &addr, &port)) {
		ctx->user_ip4 = addr;
		ctx->user_port = (__u32)port;
	}
	return SYS_PROCEED;
}

/* IPv6 sockets reach IPv4 Services by their v4-mapped address (::ffff:a.b.c.d):
 * dual-stack applications such as the JVM open AF_INET6 sockets for every
 * destination. Their connect and receive go through the inet6 hooks; an
 * unconnected send to a v4-mapped address goes through sendmsg4 already. */
static __always_inline bool sock6_v4mapped(struct bpf_sock_addr *ctx)
{
	return ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 &&
	       ctx->user_ip6[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int sock6_translate(struct bpf_sock_addr *ctx)
{
	__be32 addr;
	__be16 port;
	int ret;

	if (!sock6_v4mapped(ctx))
		return SYS_PROCEED;
	addr = ctx->user_ip6[3];
	port = (__be16)ctx->user_port;
	ret = sock_lb_forward(ctx, &addr, &port);
	if (ret < 0)
		return sock_lb_refuse();
	if (ret > 0) {
		ctx->user_ip6[3] = addr;
		ctx->user_port = (__u32)port;
	}
	return SYS_PROCEED;
}

static __always_inline int sock6_reverse(struct bpf_sock_addr *ctx)
{
	__be32 addr;
	__be16 port;

	if (!sock6_v4mapped(ctx))
		return SYS_PROCEED;
	addr = ctx->user_ip6[3];
	port = (__be16)ctx->user_port;
	if (sock_lb_reverse(ctx, &addr, &port)) {
		ctx->user_ip6[3] = addr;
		ctx->user_port = (__u32)port;
	}
	return SYS_PROCEED;
}

SEC("cgroup/connect4")
int weft_sock4_connect(struct bpf_sock_addr *ctx)
{
	return sock4_translate(ctx);
}

SEC("cgroup/sendmsg4")
int weft_sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock4_translate(ctx);
}

SEC("cgroup/recvmsg4")
int weft_sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock4_reverse(ctx);
}

SEC("cgroup/getpeername4")
int weft_sock4_getpeername(struct bpf_sock_addr *ctx)
{
	return sock4_reverse(ctx);
}

SEC("cgroup/connect6")
int weft_sock6_connect(struct bpf_sock_addr *ctx)
{
	return sock6_translate(ctx);
}

SEC("cgroup/recvmsg6")
int weft_sock6_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock6_reverse(ctx);
}

SEC("cgroup/getpeername6")
int weft_sock6_getpeername(struct bpf_sock_addr *ctx)
{
	return sock6_reverse(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
