// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Pod veth programs. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bpf/lib/l3.h"
#include "bpf/lib/endpoints.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Attached at tc ingress of the host side of every pod veth: packets leaving
 * the pod. Local pods are reached directly (redirect into their namespace);
 * other destinations are forwarded with a FIB lookup and sent out of the right
 * device with its neighbour resolved, without walking the host's IP stack. What
 * the fast path cannot handle (no route, ARP, IPv6 for now) goes to
 * the stack unchanged.
 */
SEC("tc")
int weft_from_container(struct __sk_buff *skb)
{
	struct bpf_fib_lookup fib = {};
	struct endpoint_info *ep;
	struct iphdr *ip;
	long rc;

	ip = ipv4_hdr(skb);
	if (!ip)
		return TC_ACT_OK;

	ep = lookup_endpoint4(ip->daddr);
	if (ep)
		return redirect_to_endpoint(skb, ip, ep);

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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
