/* The key of Weft's IPv4 prefix sets (LPM tries): weft_nonmasq4 (nonmasq.h),
 * weft_strict4 (encrypt.h) and weft_lb4_range (lb.h). The agent fills them the
 * same way (agent/datapath/lpm4_map).
 * Layout rules: fixed width types, byte order in the type, explicit padding.
 */
#ifndef WEFT_BPF_MAPS_LPM4_H_
#define WEFT_BPF_MAPS_LPM4_H_

#include <linux/types.h>

#include "bpf/lib/layout.h"

/* LPM trie key: the prefix length comes first, then the address bits. */
struct lpm4_key {
	__u32 prefixlen;  /* 0..32 */
	__be32 addr;      /* host bits zero */
};

WEFT_LAYOUT_ASSERT(sizeof(struct lpm4_key) == 8, "lpm4_key layout");

#endif /* WEFT_BPF_MAPS_LPM4_H_ */
