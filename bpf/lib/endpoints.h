/* The endpoints map and its lookup, shared by every program that delivers to pods. */
#ifndef WEFT_BPF_LIB_ENDPOINTS_H_
#define WEFT_BPF_LIB_ENDPOINTS_H_

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf/maps/endpoints.h"

/* Pods on this node by address; pinned so it outlives agent restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_ENDPOINTS_MAX);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_ENDPOINTS_MAP SEC(".maps");

static __always_inline struct endpoint_info *lookup_endpoint4(__be32 addr)
{
	struct endpoint_key key = {};

	key.ip4 = addr;
	key.family = WEFT_FAMILY_IPV4;
	return bpf_map_lookup_elem(&WEFT_ENDPOINTS_MAP, &key);
}

/* Delivers to a local pod: straight into its namespace (the ingress of the
 * pod's eth0), skipping the host stack.
 */
static __always_inline int redirect_to_endpoint(struct __sk_buff *skb, struct iphdr *ip,
						 const struct endpoint_info *ep)
{
	if (ipv4_dec_ttl(skb, ip) < 0)
		return TC_ACT_OK; /* let the stack answer with ICMP time exceeded */
	eth_rewrite(skb, ep->mac, ep->node_mac);
	return bpf_redirect_peer(ep->ifindex, 0);
}

#endif /* WEFT_BPF_LIB_ENDPOINTS_H_ */
