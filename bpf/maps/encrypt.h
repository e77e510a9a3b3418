/* Transparent encryption (WireGuard) strict mode.
 *
 * weft_strict4: IPv4 destinations that pod traffic may only reach encrypted:
 * every node's pod CIDR and the native-routing CIDR. Encrypted traffic leaves
 * through the WireGuard device, where no Weft program runs; traffic to these
 * destinations (from pods or the node) that reaches a native device (or the
 * VXLAN device) is
 * leaving in plain text — because a peer is missing, its key is wrong or the
 * WireGuard device is gone — and weft_to_netdev drops it when the device has
 * WEFT_NETDEV_F_ENCRYPT_STRICT (bpf/maps/netdev.h). An LPM trie without
 * preallocation; the agent replaces its contents (SetStrictEncryptionCidrs).
 *
 * weft_strict_drops: packets dropped that way (one per-CPU __u64 counter,
 * key 0), shown by `weft encrypt status`.
 * Layout rules: fixed width types, byte order in the type, explicit padding.
 */
#ifndef WEFT_BPF_MAPS_ENCRYPT_H_
#define WEFT_BPF_MAPS_ENCRYPT_H_

#include <linux/types.h>

#include "bpf/maps/lpm4.h"

#define WEFT_STRICT4_MAP weft_strict4_v1
#define WEFT_STRICT4_MAX 16384
#define WEFT_STRICT_DROPS_MAP weft_strict_drops_v1

/* weft_strict4 key: struct lpm4_key (lpm4.h). Value: __u32, reserved, 0. */

#endif /* WEFT_BPF_MAPS_ENCRYPT_H_ */
