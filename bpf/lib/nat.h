/* IPv4 NAT primitives: find a packet's flow tuple and rewrite its addresses and
 * ports with every checksum kept valid. No maps and no policy here: source NAT
 * (snat.h) and Service translation build on these.
 *
 * Checksums are patched incrementally with the kernel's helpers, which also
 * keep skb->csum right for CHECKSUM_COMPLETE packets and only touch the
 * pseudo-header part of CHECKSUM_PARTIAL ones (the device or the stack fills
 * in the rest later), so offloaded packets stay offloaded:
 *   - an address change touches the IPv4 header checksum and, for TCP and UDP,
 *     the L4 checksum through the pseudo-header (BPF_F_PSEUDO_HDR);
 *   - a port change touches the L4 checksum only (not pseudo-header);
 *   - ICMP's checksum has no pseudo-header: only the echo id changes it;
 *   - a UDP checksum of 0 means "none" and stays 0 (BPF_F_MARK_MANGLED_0);
 *     a computed 0 is written as 0xffff.
 */
#ifndef WEFT_BPF_LIB_NAT_H_
#define WEFT_BPF_LIB_NAT_H_

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <stddef.h>

#include "bpf/lib/drop.h"
#include "bpf/lib/l3.h"
#include "bpf/maps/nat.h"

/* Returned by NAT helpers for a packet they leave alone (no mapping, nothing
 * to translate); 0 means translated, negative values are drop reasons. */
#define NAT_PUNT 1

#define IPV4_SADDR_OFF (ETH_HLEN_ + offsetof(struct iphdr, saddr))
#define IPV4_DADDR_OFF (ETH_HLEN_ + offsetof(struct iphdr, daddr))
#define IPV4_CSUM_OFF (ETH_HLEN_ + offsetof(struct iphdr, check))
/* More-fragments flag and fragment offset: set on every fragment. */
#define IPV4_FRAG_MASK 0x3fff
#define IPV4_MF 0x2000

/* ICMP echo header (<linux/icmp.h> pulls in libc headers a BPF build lacks). */
struct icmp4_echo {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};
#define ICMP4_ECHOREPLY 0
#define ICMP4_DEST_UNREACH 3
#define ICMP4_ECHO 8
#define ICMP4_TIME_EXCEEDED 11
/* An ICMP error quotes the packet it is about after its 8-byte header. */
#define ICMP4_ERROR_QUOTE_OFF 8

/* The TCP flags byte (offset 13 of the TCP header). */
#define TCP_FLAGS_OFF 13
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

/* Where the L4 fields of one packet are, as offsets from the frame start. */
struct nat4_l4 {
	__u32 sport_off;   /* source port, or the id of an echo request; 0: none */
	__u32 dport_off;   /* destination port, or the id of an echo reply; 0: none */
	__u32 csum_off;    /* the L4 checksum */
	__u32 csum_flags;  /* added to every bpf_l4_csum_replace (UDP: BPF_F_MARK_MANGLED_0) */
	__u8 pseudo;       /* the checksum covers the pseudo-header (TCP, UDP) */
	__u8 tcp_flags;    /* TCP only */
	__u8 pad[2];
};

/* Reads the flow tuple of an IPv4 packet (TCP, UDP, ICMP echo request or
 * reply) and where its L4 fields are. `tuple` must be zeroed by the caller
 * (it is a map key). Returns 0, or NAT_PUNT for what has no tuple to
 * translate: other protocols, other ICMP types, fragments (only the first
 * carries the L4 header) and truncated headers.
 */
static __always_inline int nat4_parse(struct __sk_buff *skb, const struct iphdr *ip,
				      struct nat4_tuple *tuple, struct nat4_l4 *l4)
{
	__u32 off = ETH_HLEN_ + ip->ihl * 4;
	struct icmp4_echo icmp;
	__be16 ports[2];

	if (ip->frag_off & bpf_htons(IPV4_FRAG_MASK))
		return NAT_PUNT;
	tuple->saddr = ip->saddr;
	tuple->daddr = ip->daddr;
	tuple->proto = ip->protocol;

	switch (ip->protocol) {
	case IPPROTO_TCP:
		if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)) ||
		    bpf_skb_load_bytes(skb, off + TCP_FLAGS_OFF, &l4->tcp_flags, 1))
			return NAT_PUNT;
		l4->csum_off = off + offsetof(struct tcphdr, check);
		l4->pseudo = 1;
		break;
	case IPPROTO_UDP:
		if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
			return NAT_PUNT;
		l4->csum_off = off + offsetof(struct udphdr, check);
		l4->csum_flags = BPF_F_MARK_MANGLED_0;
		l4->pseudo = 1;
		break;
	case IPPROTO_ICMP:
		if (bpf_skb_load_bytes(skb, off, &icmp, sizeof(icmp)))
			return NAT_PUNT;
		l4->csum_off = off + offsetof(struct icmp4_echo, checksum);
		if (icmp.type == ICMP4_ECHO) {
			tuple->sport = icmp.id;
			l4->sport_off = off + offsetof(struct icmp4_echo, id);
		} else if (icmp.type == ICMP4_ECHOREPLY) {
			tuple->dport = icmp.id;
			l4->dport_off = off + offsetof(struct icmp4_echo, id);
		} else {
			return NAT_PUNT;
		}
		return 0;
	default:
		return NAT_PUNT;
	}
	tuple->sport = ports[0];
	tuple->dport = ports[1];
	l4->sport_off = off;
	l4->dport_off = off + sizeof(__be16);
	return 0;
}

/* Replaces one IPv4 address (at addr_off) and the matching port or echo id
 * (at port_off; 0 for none) of a packet, keeping both checksums valid.
 * Returns 0 or a negative drop reason. Packet pointers are invalid afterwards.
 */
static __always_inline int nat4_rewrite(struct __sk_buff *skb, const struct nat4_l4 *l4,
					__u32 addr_off, __be32 old_addr, __be32 new_addr,
					__u32 port_off, __be16 old_port, __be16 new_port)
{
	if (old_addr != new_addr) {
		if (l4->pseudo &&
		    bpf_l4_csum_replace(skb, l4->csum_off, old_addr, new_addr,
					BPF_F_PSEUDO_HDR | l4->csum_flags | sizeof(new_addr)))
			return -DROP_CSUM_L4;
		if (bpf_l3_csum_replace(skb, IPV4_CSUM_OFF, old_addr, new_addr, sizeof(new_addr)))
			return -DROP_CSUM_L3;
		if (bpf_skb_store_bytes(skb, addr_off, &new_addr, sizeof(new_addr), 0))
			return -DROP_WRITE_ERROR;
	}
	if (port_off && old_port != new_port) {
		if (bpf_l4_csum_replace(skb, l4->csum_off, old_port, new_port,
					l4->csum_flags | sizeof(new_port)))
			return -DROP_CSUM_L4;
		if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0))
			return -DROP_WRITE_ERROR;
	}
	return 0;
}

/* Rewrites the source of the packet whose tuple is `t` to addr:port. */
static __always_inline int nat4_rewrite_src(struct __sk_buff *skb, const struct nat4_l4 *l4,
					    const struct nat4_tuple *t, __be32 addr, __be16 port)
{
	return nat4_rewrite(skb, l4, IPV4_SADDR_OFF, t->saddr, addr, l4->sport_off, t->sport, port);
}

/* Rewrites the destination of the packet whose tuple is `t` to addr:port. */
static __always_inline int nat4_rewrite_dst(struct __sk_buff *skb, const struct nat4_l4 *l4,
					    const struct nat4_tuple *t, __be32 addr, __be16 port)
{
	return nat4_rewrite(skb, l4, IPV4_DADDR_OFF, t->daddr, addr, l4->dport_off, t->dport, port);
}

/* The tuple of the replies to `orig` once its source is translated to
 * addr:port (addresses and ports swap sides). */
static __always_inline void nat4_reply_tuple(const struct nat4_tuple *orig, __be32 addr,
					     __be16 port, struct nat4_tuple *reply)
{
	reply->saddr = orig->daddr;
	reply->daddr = addr;
	reply->sport = orig->dport;
	reply->dport = port;
	reply->proto = orig->proto;
}

#endif /* WEFT_BPF_LIB_NAT_H_ */
