/* Forwarding an IPv4 packet out of the right device with a FIB lookup, without
 * walking the host's IP stack. */
#ifndef WEFT_BPF_LIB_FIB_H_
#define WEFT_BPF_LIB_FIB_H_

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bpf/lib/l3.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Redirects to the next hop of ip->daddr (TTL decremented, MACs set; an
 * unresolved neighbour is resolved by the kernel). What the fast path cannot
 * handle (no route, a local destination, TTL running out) goes to the stack
 * unchanged: TC_ACT_OK. */
static __always_inline int fib_redirect4(struct __sk_buff *skb, struct iphdr *ip)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = skb->ingress_ifindex;

	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		if (ipv4_dec_ttl(skb, ip) < 0)
			return TC_ACT_OK;
		eth_rewrite(skb, fib.dmac, fib.smac);
		return bpf_redirect(fib.ifindex, 0);
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		/* Route known, neighbour not resolved yet: the kernel resolves it. */
		if (ipv4_dec_ttl(skb, ip) < 0)
			return TC_ACT_OK;
		return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
	}
	return TC_ACT_OK;
}

#endif /* WEFT_BPF_LIB_FIB_H_ */
