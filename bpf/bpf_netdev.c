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
#include "bpf/lib/encrypt.h"
#include "bpf/lib/fib.h"
#include "bpf/lib/lb_external.h"
#include "bpf/lib/masquerade.h"
#include "bpf/lib/snat.h"

/* Attached at tc ingress of the native devices (towards other nodes and the
 * outside): packets for a pod on this node go straight into the pod's
 * namespace; packets for a Service frontend served from outside (NodePort,
 * external and LoadBalancer addresses) go to their backend (lb_external.h);
 * replies to masqueraded or Service flows get their original addresses back
 * first. Everything else (the host's own traffic) is the host's business.
 *
 * The endpoint lookup comes first: it is the common case (pod traffic from
 * other nodes, decapsulated overlay traffic), and neither a Service frontend
 * nor a masquerade reply is ever addressed to a pod, so only packets that
 * miss pay for the parse and the other lookups.
 */
SEC("tc")
int weft_from_netdev(struct __sk_buff *skb)
{
	struct endpoint_info *ep;
	struct iphdr *ip;
	int ret;

	ip = ipv4_hdr(skb);
	if (!ip)
		return TC_ACT_OK;
	ep = lookup_endpoint4(ip->daddr);
	if (ep) {
		/* UDP sent to the pod's own address by a peer outside the
		 * cluster's CIDRs: the pod's replies must keep that address. */
		if (ip->protocol == IPPROTO_UDP && masq4_peer_outside(ip->saddr))
			snat4_mark_inbound(skb, ip);
		return redirect_to_endpoint(skb, ip, ep);
	}
	ret = lb4_external(skb, ip);
	if (ret < 0)
		return TC_ACT_SHOT;
	if (ret == 0) {
		/* To a backend: a local pod, or on to another node. */
		ip = ipv4_hdr(skb);
		if (!ip)
			return TC_ACT_SHOT;
		ep = lookup_endpoint4(ip->daddr);
		return ep ? redirect_to_endpoint(skb, ip, ep) : fib_redirect4(skb, ip);
	}
	ret = snat4_reverse(skb, ip);
	if (ret < 0)
		return TC_ACT_SHOT;
	if (ret == NAT_PUNT)
		return TC_ACT_OK;
	ip = ipv4_hdr(skb); /* rewritten: pointers are stale */
	if (!ip)
		return TC_ACT_SHOT;
	ep = lookup_endpoint4(ip->daddr);
	if (ep)
		return redirect_to_endpoint(skb, ip, ep);
	/* A remote backend's reply to a Service flow from outside. */
	ret = lb4_reverse(skb, ip);
	if (ret < 0)
		return TC_ACT_SHOT;
	if (ret == NAT_PUNT)
		return TC_ACT_OK;
	ip = ipv4_hdr(skb);
	if (!ip)
		return TC_ACT_SHOT;
	return fib_redirect4(skb, ip);
}

/* Attached at tc egress of the native devices: everything that leaves the node
 * there, the pods' packets that weft_from_container redirected (tc egress runs
 * for redirected packets too) as well as what the host stack routed. With
 * encryption in strict mode, pod traffic to other pods that would leave here in
 * plain text is dropped (fail closed). On a device with masquerade on, pod
 * traffic to destinations outside the cluster leaves with the device's address
 * (source NAT); all else leaves unchanged.
 */
SEC("tc")
int weft_to_netdev(struct __sk_buff *skb)
{
	const struct netdev_info *dev;
	struct iphdr *ip;
	__be32 nat_addr;

	ip = ipv4_hdr(skb);
	if (!ip)
		return TC_ACT_OK;
	dev = lookup_netdev(skb->ifindex);
	if (!dev)
		return TC_ACT_OK;
	if (strict4_violation(dev, ip))
		return TC_ACT_SHOT;
	if (!masq4_needed(dev, ip))
		return TC_ACT_OK;
	nat_addr = dev->masq_addr4;
	return snat4(skb, ip, nat_addr) < 0 ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
