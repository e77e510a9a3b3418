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

/* A reply arriving at the node: to a masqueraded flow (reverse SNAT, then to
 * its pod), or from a remote backend to a Service flow from outside (reverse
 * SNAT, then reverse Service translation, then to the client). */
static __always_inline int netdev_reply(struct __sk_buff *skb, struct iphdr *ip)
{
	struct endpoint_info *ep;
	int ret;

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
	return netdev_reply(skb, ip);
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

/* Attached at tc ingress of the WireGuard device, an L3 device: its packets
 * start with their IP header. With encryption, Service flows from outside
 * that go to a remote backend are source-translated to this node's router
 * address (the first address of its pod CIDR, inside what its peers accept
 * from it), so the backend's reply comes back through the tunnel; it gets an
 * Ethernet header pushed and goes the way of netdev_reply. Everything else
 * (pod traffic between nodes) is left to the stack untouched.
 */
SEC("tc")
int weft_from_l3dev(struct __sk_buff *skb)
{
	struct nat4_tuple tuple = {};
	int ret;
	struct ethhdr eth = {};
	struct iphdr hdr;
	struct iphdr *ip;
	__be16 ports[2];

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, 0, &hdr, sizeof(hdr)) || hdr.ihl < 5 ||
	    (hdr.protocol != IPPROTO_TCP && hdr.protocol != IPPROTO_UDP) ||
	    (hdr.frag_off & bpf_htons(IPV4_FRAG_MASK)))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, hdr.ihl * 4, ports, sizeof(ports)))
		return TC_ACT_OK;
	tuple.saddr = hdr.saddr;
	tuple.daddr = hdr.daddr;
	tuple.sport = ports[0];
	tuple.dport = ports[1];
	tuple.proto = hdr.protocol;
	if (!bpf_map_lookup_elem(&WEFT_SNAT4_REV_MAP, &tuple))
		return TC_ACT_OK;
	if (bpf_skb_change_head(skb, ETH_HLEN_, 0))
		return TC_ACT_SHOT;
	eth.h_proto = bpf_htons(ETH_P_IP);
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0))
		return TC_ACT_SHOT;
	ip = ipv4_hdr(skb);
	if (!ip)
		return TC_ACT_SHOT;
	ret = netdev_reply(skb, ip);
	/* Not fully translated back (its Service entry was evicted): the stack
	 * of an L3 device cannot take it with the Ethernet header we pushed. */
	return ret == TC_ACT_OK ? TC_ACT_SHOT : ret;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
