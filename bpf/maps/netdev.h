/* weft_netdev: settings of the native devices, by ifindex.
 *
 * Written by the agent when it attaches a native device (AttachNetdev) and
 * removed when it detaches it; read by weft_to_netdev (bpf_netdev.c) on every
 * packet leaving the device. A device without an entry is never masqueraded
 * and never drops.
 * Layout rules: fixed width types, byte order in the type, explicit padding.
 */
#ifndef WEFT_BPF_MAPS_NETDEV_H_
#define WEFT_BPF_MAPS_NETDEV_H_

#include <linux/types.h>

#include "bpf/lib/layout.h"

#define WEFT_NETDEV_MAP weft_netdev_v1
#define WEFT_NETDEV_MAX 256

/* netdev_info.flags */
/* Pod traffic to destinations outside weft_nonmasq4 leaves with masq_addr4. */
#define WEFT_NETDEV_F_MASQUERADE (1U << 0)
/* Encryption strict mode: pod traffic to weft_strict4 destinations is
 * dropped here (bpf/maps/encrypt.h). */
#define WEFT_NETDEV_F_ENCRYPT_STRICT (1U << 1)

/* Key: __u32 ifindex. */
struct netdev_info {
	__be32 masq_addr4;  /* the device's IPv4 address; 0 when masquerade is off */
	__u32 flags;        /* WEFT_NETDEV_F_* */
};

WEFT_LAYOUT_ASSERT(sizeof(struct netdev_info) == 8, "netdev_info layout");

#endif /* WEFT_BPF_MAPS_NETDEV_H_ */
