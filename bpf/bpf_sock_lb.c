// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Socket-level Service translation, attached to a cgroup v2 folder (the root
 * on a node: every pod and the host). A connection to a Service frontend is
 * pointed at a backend once, when the application connects (TCP, connected
 * UDP) or sends (unconnected UDP); its packets then carry the backend's
 * address from the start, so no per-packet NAT happens anywhere. The
 * application keeps seeing the Service address: replies (recvmsg) and
 * getpeername are translated back through weft_lb4_sock_rev.
 *
 * A frontend without backends refuses the connection at once (ECONNREFUSED),
 * as the issue asks: the client gets a refusal, not a timeout.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

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

static __always_inline int sock4_translate(struct bpf_sock_addr *ctx)
{
	struct lb4_sock_rev_key rkey = {};
	struct lb4_sock_rev rev = {};
	const struct lb4_backend *be;
	struct lb4_service *svc;
	struct lb4_key key = {};
	__u32 backend_id = 0;
	__u8 proto;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return SYS_PROCEED;
	proto = (__u8)ctx->protocol;
	key.addr = ctx->user_ip4;
	key.port = (__be16)ctx->user_port;
	key.proto = proto;
	key.scope = LB4_SCOPE_SOCKET;
	svc = bpf_map_lookup_elem(&WEFT_LB4_SVC_MAP, &key);
	if (!svc)
		return SYS_PROCEED;
	be = lb4_pick(&key, svc, bpf_get_netns_cookie(ctx), bpf_get_prandom_u32(), &backend_id);
	if (!be) {
		bpf_set_retval(-ECONNREFUSED);
		return SYS_REJECT;
	}
	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.addr = be->addr;
	rkey.port = be->port;
	rev.addr = key.addr;
	rev.port = key.port;
	rev.id = svc->id;
	bpf_map_update_elem(&WEFT_LB4_SOCK_REV_MAP, &rkey, &rev, BPF_ANY);
	ctx->user_ip4 = be->addr;
	ctx->user_port = (__u32)be->port;
	return SYS_PROCEED;
}

/* The peer a translated socket talks to, shown as the Service frontend. */
static __always_inline int sock4_reverse(struct bpf_sock_addr *ctx)
{
	struct lb4_sock_rev_key rkey = {};
	struct lb4_sock_rev *rev;

	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.addr = ctx->user_ip4;
	rkey.port = (__be16)ctx->user_port;
	rev = bpf_map_lookup_elem(&WEFT_LB4_SOCK_REV_MAP, &rkey);
	if (!rev)
		return SYS_PROCEED;
	ctx->user_ip4 = rev->addr;
	ctx->user_port = (__u32)rev->port;
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
