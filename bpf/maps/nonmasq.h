/* weft_nonmasq4: IPv4 destinations that pod traffic reaches with the pod's own
 * address, never masqueraded: every node's pod CIDR and InternalIP, and the
 * native-routing CIDR (about two entries per node). An LPM trie without
 * preallocation (unused room costs nothing); the agent replaces its contents
 * (SetNonMasqueradeCidrs) and refuses a set larger than the map.
 */
#ifndef WEFT_BPF_MAPS_NONMASQ_H_
#define WEFT_BPF_MAPS_NONMASQ_H_

#include <linux/types.h>

#include "bpf/lib/layout.h"

#define WEFT_NONMASQ4_MAP weft_nonmasq4_v1
#define WEFT_NONMASQ4_MAX 16384

/* LPM trie key: the prefix length comes first, then the address bits. */
struct nonmasq4_key {
	__u32 prefixlen;  /* 0..32 */
	__be32 addr;      /* host bits zero */
};

/* Value: __u32, reserved, 0. */

WEFT_LAYOUT_ASSERT(sizeof(struct nonmasq4_key) == 8, "nonmasq4_key layout");

#endif /* WEFT_BPF_MAPS_NONMASQ_H_ */
