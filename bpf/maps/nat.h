/* weft_snat4 and weft_snat4_rev: the source-NAT (masquerade) state for IPv4.
 *
 * Written by the datapath (bpf_netdev.c) as flows start; the agent only reads
 * them (inspection) and never has to restore them: both maps are pinned, so
 * translated flows survive an agent restart.
 *
 * Both maps are keyed by a flow tuple exactly as it appears in a packet:
 *   weft_snat4:      the pod's packet as sent   {pod, remote, pod port, remote port}
 *                    -> the source it leaves with {node address, NAT port}
 *   weft_snat4_rev:  the reply as it arrives    {remote, node address, remote port, NAT port}
 *                    -> the destination it is delivered to {pod, pod port}
 * For ICMP echo the identifier is the "port": a request carries it as sport
 * (dport 0), a reply as dport (sport 0), so one flow reverses like TCP/UDP.
 *
 * Layout rules: fixed width types, byte order in the type, explicit padding,
 * zeroed before use (hash keys compare every byte, padding included).
 */
#ifndef WEFT_BPF_MAPS_NAT_H_
#define WEFT_BPF_MAPS_NAT_H_

#include <linux/types.h>

#include "bpf/lib/layout.h"

#define WEFT_SNAT4_MAP weft_snat4_v1
#define WEFT_SNAT4_REV_MAP weft_snat4_rev_v1
/* LRU maps: the least recently used flows are evicted when full. */
#define WEFT_SNAT4_MAX 65536

/* Masquerade source ports (and ICMP echo identifiers). The range lies above
 * the kernel's default ephemeral range (net.ipv4.ip_local_port_range =
 * 32768 60999), so a mapping never takes a port that one of the host's own
 * connections picked automatically: replies to the host are never mistaken
 * for replies to a pod. Host sockets explicitly bound into this range can
 * still collide, for the same remote address and port only.
 */
#define WEFT_NAT_PORT_MIN 61000
#define WEFT_NAT_PORT_MAX 65535

/* nat4_entry.flags */
/* A flow opened from outside towards a pod (weft_snat4 only): the pod's
 * replies leave with its own address, untranslated. */
#define WEFT_NAT_F_INBOUND (1U << 0)

/* An IPv4 flow as written in one packet's headers. */
struct nat4_tuple {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;   /* TCP/UDP port, or the echo id of an ICMP request */
	__be16 dport;   /* TCP/UDP port, or the echo id of an ICMP reply */
	__u8 proto;     /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP */
	__u8 pad[3];
};

/* What one side of a flow is rewritten to. */
struct nat4_entry {
	__be32 addr;       /* weft_snat4: new source; weft_snat4_rev: new destination */
	__be16 port;
	__u8 flags;        /* WEFT_NAT_F_* */
	__u8 pad;
	__u64 created_ns;  /* bpf_ktime_get_ns() when the mapping was made (CLOCK_MONOTONIC) */
};

WEFT_LAYOUT_ASSERT(sizeof(struct nat4_tuple) == 16, "nat4_tuple layout");
WEFT_LAYOUT_ASSERT(sizeof(struct nat4_entry) == 16, "nat4_entry layout");

#endif /* WEFT_BPF_MAPS_NAT_H_ */
