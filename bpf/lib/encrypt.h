/* Strict mode of transparent encryption: pod traffic that must be encrypted
 * never leaves a native device in plain text (see bpf/maps/encrypt.h).
 */
#ifndef WEFT_BPF_LIB_ENCRYPT_H_
#define WEFT_BPF_LIB_ENCRYPT_H_

#include <linux/bpf.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <stdbool.h>

#include "bpf/maps/encrypt.h"
#include "bpf/maps/netdev.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WEFT_STRICT4_MAX);
	__type(key, struct lpm4_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_STRICT4_MAP SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_STRICT_DROPS_MAP SEC(".maps");

/* Whether a packet leaving through `dev` is traffic that strict mode forbids
 * in plain text: the device is strict and the destination lies inside the
 * encrypted CIDRs (a pod) — whoever sent it: a pod of this node, or the node
 * itself (its traffic to remote pods goes through WireGuard too). WireGuard's
 * own UDP and the overlay's outer packets go to node addresses, never in
 * these CIDRs. Counted when so.
 */
static __always_inline bool strict4_violation(const struct netdev_info *dev,
					      const struct iphdr *ip)
{
	struct lpm4_key key = {};
	__u32 zero = 0;
	__u64 *drops;

	if (!(dev->flags & WEFT_NETDEV_F_ENCRYPT_STRICT))
		return false;
	key.prefixlen = 32;
	key.addr = ip->daddr;
	if (!bpf_map_lookup_elem(&WEFT_STRICT4_MAP, &key))
		return false;
	drops = bpf_map_lookup_elem(&WEFT_STRICT_DROPS_MAP, &zero);
	if (drops)
		*drops += 1;
	return true;
}

#endif /* WEFT_BPF_LIB_ENCRYPT_H_ */
