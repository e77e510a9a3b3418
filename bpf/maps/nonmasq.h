/* weft_nonmasq4: IPv4 destinations that pod traffic reaches with the pod's own
 * address, never masqueraded: every node's pod CIDR and InternalIP, and the
 * native-routing CIDR (about two entries per node). An LPM trie without
 * preallocation (unused room costs nothing); the agent replaces its contents
 * (SetNonMasqueradeCidrs) and refuses a set larger than the map.
 */
#ifndef WEFT_BPF_MAPS_NONMASQ_H_
#define WEFT_BPF_MAPS_NONMASQ_H_

#include <linux/types.h>

#include "bpf/maps/lpm4.h"

#define WEFT_NONMASQ4_MAP weft_nonmasq4_v1
#define WEFT_NONMASQ4_MAX 16384

/* Key: struct lpm4_key (lpm4.h). Value: __u32, reserved, 0. */

#endif /* WEFT_BPF_MAPS_NONMASQ_H_ */
