/* weft_endpoints: the pods on this node, by address.
 *
 * Shared by the BPF programs (bpf_lxc.c, bpf_netdev.c) and the agent, which
 * writes one entry per pod at CNI ADD and removes it at DEL. Layout rules: fixed
 * width types, byte order in the type, explicit padding, zeroed before use.
 */
#ifndef WEFT_BPF_MAPS_ENDPOINTS_H_
#define WEFT_BPF_MAPS_ENDPOINTS_H_

#include <linux/types.h>

#include "bpf/lib/layout.h"

#define WEFT_ENDPOINTS_MAP weft_endpoints_v1
#define WEFT_ENDPOINTS_MAX 65536

#define WEFT_FAMILY_IPV4 4
#define WEFT_FAMILY_IPV6 6

struct endpoint_key {
	union {
		__be32 ip4;
		__u8 ip6[16];
	};
	__u8 family; /* WEFT_FAMILY_IPV4 or WEFT_FAMILY_IPV6 */
	__u8 pad[3];
};

struct endpoint_info {
	__u32 ifindex;     /* host side of the pod's veth */
	__u8 mac[6];       /* the pod's eth0 */
	__u8 node_mac[6];  /* the host side of the veth: source MAC towards the pod */
	__u32 flags;       /* reserved, 0 */
	__u32 pad;
};

WEFT_LAYOUT_ASSERT(sizeof(struct endpoint_key) == 20, "endpoint_key layout");
WEFT_LAYOUT_ASSERT(sizeof(struct endpoint_info) == 24, "endpoint_info layout");

#endif /* WEFT_BPF_MAPS_ENDPOINTS_H_ */
