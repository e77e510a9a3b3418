/* When pod traffic is masqueraded: the native devices' settings and the
 * destinations that are never masqueraded, both written by the agent.
 */
#ifndef WEFT_BPF_LIB_MASQUERADE_H_
#define WEFT_BPF_LIB_MASQUERADE_H_

#include <linux/bpf.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <stdbool.h>

#include "bpf/lib/endpoints.h"
#include "bpf/maps/netdev.h"
#include "bpf/maps/nonmasq.h"

/* Native device settings by ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_NETDEV_MAX);
	__type(key, __u32);
	__type(value, struct netdev_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_NETDEV_MAP SEC(".maps");

/* Destinations reached without masquerade (see bpf/maps/nonmasq.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WEFT_NONMASQ4_MAX);
	__type(key, struct lpm4_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_NONMASQ4_MAP SEC(".maps");

static __always_inline const struct netdev_info *lookup_netdev(__u32 ifindex)
{
	return bpf_map_lookup_elem(&WEFT_NETDEV_MAP, &ifindex);
}

static __always_inline bool nonmasq4_contains(__be32 addr)
{
	struct lpm4_key key = {};

	key.prefixlen = 32;
	key.addr = addr;
	return bpf_map_lookup_elem(&WEFT_NONMASQ4_MAP, &key) != NULL;
}

/* Whether a packet leaving through device `dev` is masqueraded: the device
 * masquerades, the source is a pod on this node, and the destination lies
 * outside the cluster's pod and native-routing CIDRs. Traffic to the device's
 * own address never gets here (the host delivers it locally); the check only
 * guards against a misrouted packet turning into a reply to itself.
 */
static __always_inline bool masq4_needed(const struct netdev_info *dev, const struct iphdr *ip)
{
	if (!(dev->flags & WEFT_NETDEV_F_MASQUERADE) || !dev->masq_addr4)
		return false;
	/* The host's own packets (and overlay packets it encapsulated) carry
	 * the device's address: no endpoint lookup for them. */
	if (ip->daddr == dev->masq_addr4 || ip->saddr == dev->masq_addr4)
		return false;
	if (!lookup_endpoint4(ip->saddr))
		return false;
	return !nonmasq4_contains(ip->daddr);
}

/* Whether a pod's reply to a packet from `saddr` would be masqueraded
 * somewhere: the sender lies outside the non-masquerade CIDRs. */
static __always_inline bool masq4_peer_outside(__be32 saddr)
{
	return !nonmasq4_contains(saddr);
}

#endif /* WEFT_BPF_LIB_MASQUERADE_H_ */
