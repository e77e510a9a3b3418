/* Service translation of traffic that arrives from outside the node (NodePort,
 * external and LoadBalancer addresses), per packet at tc, with connection
 * tracking so that every packet of a flow goes to the backend its first one
 * got, and replies leave with the frontend as their source.
 *
 * Forward (native device ingress, lb4_external):
 *   client -> frontend      weft_lb4_ct by this tuple: the flow's backend
 *                           (a new flow: lb4_pick, then ct and ct_rev written)
 *   client -> backend       destination translated (DNAT)
 *   node:port -> backend    LB4_F_SNAT flows (externalTrafficPolicy Cluster)
 *                           also get this node's address as source, through
 *                           the masquerade's SNAT maps (snat.h), so replies
 *                           come back here
 * Reverse (lb4_reverse: native device ingress after reverse SNAT, and the pod
 * veths for local backends):
 *   backend -> client       weft_lb4_ct_rev by this tuple: the frontend
 *   frontend -> client      source translated, then forwarded by FIB lookup
 *                           (the stack would drop a packet arriving with one
 *                           of its own addresses as source)
 *
 * A frontend without backends is left to the stack: for a node address that
 * is the kernel's own refusal (TCP RST, ICMP port unreachable).
 * Flows end by LRU eviction (no TCP state machine): a long-idle flow that was
 * evicted is picked again on its next packet (with Maglev, the same backend
 * while the set is unchanged).
 */
#ifndef WEFT_BPF_LIB_LB_EXTERNAL_H_
#define WEFT_BPF_LIB_LB_EXTERNAL_H_

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

#include "bpf/lib/lb.h"
#include "bpf/lib/nat.h"
#include "bpf/lib/snat.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_LB4_CT_MAX);
	__type(key, struct nat4_tuple);
	__type(value, struct lb4_ct);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_LB4_CT_MAP SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_LB4_CT_MAX);
	__type(key, struct nat4_tuple);
	__type(value, struct lb4_ct_rev);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_LB4_CT_REV_MAP SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb4_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_LB4_CONFIG_MAP SEC(".maps");

/* A flow hash for Maglev: the same flow always hashes the same. */
static __always_inline __u32 lb4_flow_hash(const struct nat4_tuple *t)
{
	__u32 h = 2166136261u; /* FNV-1a over the tuple's fields */

	h = (h ^ t->saddr) * 16777619u;
	h = (h ^ t->daddr) * 16777619u;
	h = (h ^ (((__u32)t->sport << 16) | t->dport)) * 16777619u;
	h = (h ^ t->proto) * 16777619u;
	return h ^ (h >> 15);
}

/* The new flow `t` to frontend `svc`: picks its backend and records both
 * directions. Returns 0 with *ct filled, NAT_PUNT when there is no backend. */
static __always_inline int lb4_ct_create(const struct nat4_tuple *t, const struct lb4_key *key,
					 struct lb4_service *svc, struct lb4_ct *ct)
{
	struct nat4_tuple reply = {};
	struct lb4_ct_rev rev = {};
	const struct lb4_backend *be;
	__u32 backend_id = 0;

	be = lb4_pick(key, svc, t->saddr, lb4_flow_hash(t), &backend_id);
	if (!be)
		return NAT_PUNT;
	ct->backend_addr = be->addr;
	ct->backend_port = be->port;
	ct->flags = (svc->flags & LB4_F_SNAT) ? LB4_CT_F_SNAT : 0;
	ct->id = svc->id;
	ct->backend_id = backend_id;
	ct->created_ns = bpf_ktime_get_ns();

	/* Replies come from the backend to the client (after reverse SNAT). */
	reply.saddr = be->addr;
	reply.daddr = t->saddr;
	reply.sport = be->port;
	reply.dport = t->sport;
	reply.proto = t->proto;
	rev.frontend_addr = t->daddr;
	rev.frontend_port = t->dport;
	rev.id = svc->id;
	if (bpf_map_update_elem(&WEFT_LB4_CT_REV_MAP, &reply, &rev, BPF_ANY))
		return NAT_PUNT;
	if (bpf_map_update_elem(&WEFT_LB4_CT_MAP, t, ct, BPF_ANY))
		return NAT_PUNT;
	return 0;
}

/* Forward translation of a packet from outside (see the file comment).
 * Returns NAT_PUNT when the packet is not for a Service frontend (or has no
 * backend), 0 when translated (packet pointers are invalid then), or a
 * negative drop reason. */
static __always_inline int lb4_external(struct __sk_buff *skb, const struct iphdr *ip)
{
	struct nat4_tuple tuple = {};
	struct nat4_l4 l4 = {};
	struct lb4_service *entry;
	struct lb4_service svc;
	struct lb4_key key = {};
	struct lb4_config *cfg;
	struct lb4_ct *found;
	struct lb4_ct ct = {};
	struct iphdr *now;
	__u32 zero = 0;
	int ret;

	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return NAT_PUNT;
	if (nat4_parse(skb, ip, &tuple, &l4))
		return NAT_PUNT;
	found = bpf_map_lookup_elem(&WEFT_LB4_CT_MAP, &tuple);
	if (found) {
		ct = *found;
	} else {
		key.addr = tuple.daddr;
		key.port = tuple.dport;
		key.proto = tuple.proto;
		key.scope = LB4_SCOPE_EXTERNAL;
		entry = bpf_map_lookup_elem(&WEFT_LB4_SVC_MAP, &key);
		if (!entry)
			return NAT_PUNT;
		svc = *entry;
		ret = lb4_ct_create(&tuple, &key, &svc, &ct);
		if (ret)
			return ret;
	}
	ret = nat4_rewrite_dst(skb, &l4, &tuple, ct.backend_addr, ct.backend_port);
	if (ret)
		return ret;
	if (!(ct.flags & LB4_CT_F_SNAT))
		return 0;
	cfg = bpf_map_lookup_elem(&WEFT_LB4_CONFIG_MAP, &zero);
	if (!cfg || !cfg->snat_addr4)
		return -DROP_NAT_NO_MAPPING;
	now = ipv4_hdr(skb);
	if (!now)
		return -DROP_INVALID_PACKET;
	ret = snat4(skb, now, cfg->snat_addr4);
	return ret == NAT_PUNT ? -DROP_NAT_NO_MAPPING : ret;
}

/* Reverse translation of a backend's reply to a flow from outside: its source
 * becomes the frontend. Returns NAT_PUNT (not a reply of ours), 0 (translated;
 * forward it with fib_redirect4) or a negative drop reason. */
static __always_inline int lb4_reverse(struct __sk_buff *skb, const struct iphdr *ip)
{
	struct nat4_tuple tuple = {};
	struct nat4_l4 l4 = {};
	struct lb4_ct_rev *rev;
	__be32 addr;
	__be16 port;

	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return NAT_PUNT;
	if (nat4_parse(skb, ip, &tuple, &l4))
		return NAT_PUNT;
	rev = bpf_map_lookup_elem(&WEFT_LB4_CT_REV_MAP, &tuple);
	if (!rev)
		return NAT_PUNT;
	addr = rev->frontend_addr;
	port = rev->frontend_port;
	return nat4_rewrite_src(skb, &l4, &tuple, addr, port);
}

#endif /* WEFT_BPF_LIB_LB_EXTERNAL_H_ */
