// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Native device programs. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bpf/lib/l3.h"
#include "bpf/lib/endpoints.h"

/* Attached at tc ingress of the native devices (towards other nodes): packets
 * for a pod on this node go straight into the pod's namespace. Everything else
 * is the host's business.
 */
SEC("tc")
int weft_from_netdev(struct __sk_buff *skb)
{
	struct endpoint_info *ep;
	struct iphdr *ip;

	ip = ipv4_hdr(skb);
	if (!ip)
		return TC_ACT_OK;
	ep = lookup_endpoint4(ip->daddr);
	if (!ep)
		return TC_ACT_OK;
	return redirect_to_endpoint(skb, ip, ep);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
