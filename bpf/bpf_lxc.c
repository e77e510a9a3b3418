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
#include "bpf/lib/fib.h"
#include "bpf/lib/lb_external.h"
#include "bpf/lib/snat.h"

/* Attached at tc ingress of the host side of every pod veth: packets leaving
 * the pod. Local pods are reached directly (redirect into their namespace).
 * A pod's reply to a Service flow from outside (the pod is the backend) gets
 * the frontend back as its source, after the node's address as destination
 * when the flow was source-translated (lb_external.h). Other destinations are
 * forwarded with a FIB lookup and sent out of the right device with its
 * neighbour resolved, without walking the host's IP stack. What the fast path
 * cannot handle (no route, ARP, IPv6 for now) goes to the stack unchanged.
 */
SEC("tc")
int weft_from_container(struct __sk_buff *skb)
{
	struct endpoint_info *ep;
	struct iphdr *ip;
	int ret;

	ip = ipv4_hdr(skb);
	if (!ip)
		return TC_ACT_OK;

	ep = lookup_endpoint4(ip->daddr);
	if (ep)
		return redirect_to_endpoint(skb, ip, ep);

	ret = snat4_reverse(skb, ip);
	if (ret < 0)
		return TC_ACT_SHOT;
	if (ret == 0) {
		ip = ipv4_hdr(skb);
		if (!ip)
			return TC_ACT_SHOT;
		ep = lookup_endpoint4(ip->daddr);
		if (ep)
			return redirect_to_endpoint(skb, ip, ep);
	}
	ret = lb4_reverse(skb, ip);
	if (ret < 0)
		return TC_ACT_SHOT;
	if (ret == 0) {
		ip = ipv4_hdr(skb);
		if (!ip)
			return TC_ACT_SHOT;
	}
	return fib_redirect4(skb, ip);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
