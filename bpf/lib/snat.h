/* Source NAT (masquerade) of IPv4 flows: the SNAT maps, the choice of a NAT
 * port, and the rewrite of pods' packets on the way out and of the replies on
 * the way back. When a packet must be translated is decided elsewhere
 * (masquerade.h); this file only keeps mappings consistent.
 *
 * A mapping is two entries (bpf/maps/nat.h): weft_snat4 by the pod's tuple,
 * used on the way out, and weft_snat4_rev by the reply tuple, used on the way
 * in. The reverse entry is created first, with BPF_F_NOEXIST: that insert is
 * what reserves a NAT port for one remote address and port, so two flows can
 * never share a reply tuple, also when two CPUs race.
 */
#ifndef WEFT_BPF_LIB_SNAT_H_
#define WEFT_BPF_LIB_SNAT_H_

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <stdbool.h>

#include "bpf/lib/drop.h"
#include "bpf/lib/nat.h"
#include "bpf/maps/nat.h"

/* Random ports tried before a new flow is dropped (the range is nearly full
 * for that remote address and port). */
#define SNAT_PORT_TRIES 16
#define SNAT_PORT_COUNT (WEFT_NAT_PORT_MAX - WEFT_NAT_PORT_MIN + 1)

/* Pod tuple -> the source it leaves with. Pinned: flows survive restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_SNAT4_MAX);
	__type(key, struct nat4_tuple);
	__type(value, struct nat4_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_SNAT4_MAP SEC(".maps");

/* Reply tuple -> the pod address and port replies are delivered to. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_SNAT4_MAX);
	__type(key, struct nat4_tuple);
	__type(value, struct nat4_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_SNAT4_REV_MAP SEC(".maps");

/* Whether the reverse entry of mapping `fwd` of flow `orig` points back at
 * `orig`. An LRU may evict it alone: then it is put back, so replies keep
 * arriving; if its port went to another flow meanwhile, the mapping is lost.
 */
static __always_inline bool snat4_reverse_intact(const struct nat4_tuple *orig,
						 const struct nat4_entry *fwd)
{
	struct nat4_tuple reply = {};
	struct nat4_entry back = {};
	struct nat4_entry *rev;

	nat4_reply_tuple(orig, fwd->addr, fwd->port, &reply);
	rev = bpf_map_lookup_elem(&WEFT_SNAT4_REV_MAP, &reply);
	if (rev)
		return rev->addr == orig->saddr && rev->port == orig->sport;
	back.addr = orig->saddr;
	back.port = orig->sport;
	back.created_ns = fwd->created_ns;
	return bpf_map_update_elem(&WEFT_SNAT4_REV_MAP, &reply, &back, BPF_NOEXIST) == 0;
}

/* Creates a mapping of `orig` to nat_addr and a random free port in
 * [WEFT_NAT_PORT_MIN, WEFT_NAT_PORT_MAX], with a bounded number of tries.
 * Returns 0 with the mapping in *out, or a negative drop reason.
 */
static __always_inline int snat4_create(const struct nat4_tuple *orig, __be32 nat_addr,
					struct nat4_entry *out)
{
	struct nat4_tuple reply = {};
	struct nat4_entry back = {};
	struct nat4_entry fwd = {};
	struct nat4_entry *winner;
	__u64 now = bpf_ktime_get_ns();
	__be16 port = 0;
	int i;

	back.addr = orig->saddr;
	back.port = orig->sport;
	back.created_ns = now;
	nat4_reply_tuple(orig, nat_addr, 0, &reply);
	for (i = 0; i < SNAT_PORT_TRIES; i++) {
		port = bpf_htons(WEFT_NAT_PORT_MIN + bpf_get_prandom_u32() % SNAT_PORT_COUNT);
		reply.dport = port;
		if (bpf_map_update_elem(&WEFT_SNAT4_REV_MAP, &reply, &back, BPF_NOEXIST) == 0)
			break;
	}
	if (i == SNAT_PORT_TRIES)
		return -DROP_NAT_NO_MAPPING;

	fwd.addr = nat_addr;
	fwd.port = port;
	fwd.created_ns = now;
	if (bpf_map_update_elem(&WEFT_SNAT4_MAP, orig, &fwd, BPF_NOEXIST) == 0) {
		*out = fwd;
		return 0;
	}
	/* Another CPU mapped the same flow first: give our port back, use its. */
	bpf_map_delete_elem(&WEFT_SNAT4_REV_MAP, &reply);
	winner = bpf_map_lookup_elem(&WEFT_SNAT4_MAP, orig);
	if (!winner)
		return -DROP_NAT_NO_MAPPING;
	/* Keeps clang from merging this copy with the one above by offsetting
	 * `winner` before its NULL check, which the verifier rejects. */
	barrier_var(winner);
	*out = *winner;
	return 0;
}

/* The mapping of flow `orig` to nat_addr: the existing one when it is still
 * whole, else a new one if `may_create`. Returns 0 with the mapping in *out,
 * NAT_PUNT when the flow is to leave untranslated, or a negative drop reason.
 */
static __always_inline int snat4_mapping(const struct nat4_tuple *orig, __be32 nat_addr,
					 bool may_create, struct nat4_entry *out)
{
	struct nat4_entry *fwd;

	fwd = bpf_map_lookup_elem(&WEFT_SNAT4_MAP, orig);
	if (fwd) {
		if (fwd->flags & WEFT_NAT_F_INBOUND)
			return NAT_PUNT;
		if (fwd->addr == nat_addr && snat4_reverse_intact(orig, fwd)) {
			*out = *fwd;
			return 0;
		}
		/* The device's address changed, or the port was lost: start over. */
		bpf_map_delete_elem(&WEFT_SNAT4_MAP, orig);
	}
	if (!may_create)
		return NAT_PUNT;
	return snat4_create(orig, nat_addr, out);
}

/* Whether a packet without a mapping may open one. For TCP only a SYN opens a
 * connection: a pod's SYN-ACK or any later segment without a mapping belongs
 * to a connection opened towards the pod (or one that was never translated),
 * and translating it mid-way would break it. UDP and ICMP echo requests have
 * no handshake: inbound UDP flows are marked instead (snat4_mark_inbound).
 */
static __always_inline bool snat4_may_open(const struct nat4_tuple *t, const struct nat4_l4 *l4)
{
	if (t->proto == IPPROTO_TCP)
		return (l4->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
	if (t->proto == IPPROTO_ICMP)
		return l4->sport_off != 0; /* an echo request */
	return true;
}

/* Source NAT of one packet leaving the node: the source becomes nat_addr and
 * a NAT port, reusing the flow's mapping. Returns 0 (translated), NAT_PUNT
 * (left unchanged) or a negative drop reason.
 */
static __always_inline int snat4(struct __sk_buff *skb, const struct iphdr *ip, __be32 nat_addr)
{
	struct nat4_tuple tuple = {};
	struct nat4_l4 l4 = {};
	struct nat4_entry map;
	int ret;

	ret = nat4_parse(skb, ip, &tuple, &l4);
	if (ret)
		return ret;
	ret = snat4_mapping(&tuple, nat_addr, snat4_may_open(&tuple, &l4), &map);
	if (ret)
		return ret;
	return nat4_rewrite_src(skb, &l4, &tuple, map.addr, map.port);
}

/* Reverse source NAT of an ICMP error (destination unreachable, including
 * "fragmentation needed" for path MTU discovery, or time exceeded) about a
 * translated packet: it is addressed to the node and quotes the packet as it
 * left, so the pod gets it back with its own address and port everywhere:
 *   - outer destination: node -> pod (IPv4 header checksum; ICMP's checksum
 *     does not cover the outer header);
 *   - quoted source address: node -> pod, with the quoted header's checksum
 *     patched alongside; the pair leaves the ICMP checksum's sum unchanged;
 *   - quoted source port or echo id: NAT port -> pod port (ICMP checksum).
 * The quoted L4 checksum is left stale: receivers match ICMP errors by
 * addresses and ports and do not verify it. Same returns as snat4_reverse.
 */
static __always_inline int snat4_reverse_icmp_error(struct __sk_buff *skb, const struct iphdr *ip)
{
	__u32 icmp_off = ETH_HLEN_ + ip->ihl * 4;
	__u32 quote_off = icmp_off + ICMP4_ERROR_QUOTE_OFF;
	struct nat4_l4 outer = {}; /* no L4 checksum over the outer address */
	struct nat4_tuple reply = {};
	struct icmp4_echo icmp;
	struct nat4_entry *rev;
	struct iphdr quote;
	__u32 quote_l4, port_off;
	__be32 node, pod;
	__be16 ports[2];
	__be16 nat_port, pod_port;
	int ret;

	if (bpf_skb_load_bytes(skb, icmp_off, &icmp, sizeof(icmp)) ||
	    (icmp.type != ICMP4_DEST_UNREACH && icmp.type != ICMP4_TIME_EXCEEDED))
		return NAT_PUNT;
	if (bpf_skb_load_bytes(skb, quote_off, &quote, sizeof(quote)) || quote.ihl < 5 ||
	    quote.saddr != ip->daddr || (quote.frag_off & bpf_htons(IPV4_FRAG_MASK & ~IPV4_MF)))
		return NAT_PUNT;
	quote_l4 = quote_off + quote.ihl * 4;

	/* The quoted packet left as {node:nat_port -> remote}; its replies,
	 * the reverse map's keys, are {remote -> node:nat_port}. */
	reply.saddr = quote.daddr;
	reply.daddr = quote.saddr;
	reply.proto = quote.protocol;
	switch (quote.protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (bpf_skb_load_bytes(skb, quote_l4, ports, sizeof(ports)))
			return NAT_PUNT;
		reply.sport = ports[1];
		reply.dport = ports[0];
		port_off = quote_l4;
		break;
	case IPPROTO_ICMP:
		if (bpf_skb_load_bytes(skb, quote_l4, &icmp, sizeof(icmp)) || icmp.type != ICMP4_ECHO)
			return NAT_PUNT;
		reply.dport = icmp.id;
		port_off = quote_l4 + offsetof(struct icmp4_echo, id);
		break;
	default:
		return NAT_PUNT;
	}
	rev = bpf_map_lookup_elem(&WEFT_SNAT4_REV_MAP, &reply);
	if (!rev)
		return NAT_PUNT;
	pod = rev->addr;
	pod_port = rev->port;
	node = reply.daddr;
	nat_port = reply.dport;

	ret = nat4_rewrite(skb, &outer, IPV4_DADDR_OFF, ip->daddr, pod, 0, 0, 0);
	if (ret)
		return ret;
	if (bpf_l3_csum_replace(skb, quote_off + offsetof(struct iphdr, check), node, pod, sizeof(pod)))
		return -DROP_CSUM_L3;
	if (bpf_skb_store_bytes(skb, quote_off + offsetof(struct iphdr, saddr), &pod, sizeof(pod), 0))
		return -DROP_WRITE_ERROR;
	if (bpf_l4_csum_replace(skb, icmp_off + offsetof(struct icmp4_echo, checksum), nat_port,
				pod_port, sizeof(pod_port)))
		return -DROP_CSUM_L4;
	if (bpf_skb_store_bytes(skb, port_off, &pod_port, sizeof(pod_port), 0))
		return -DROP_WRITE_ERROR;
	return 0;
}

/* Reverse source NAT of one packet arriving at the node: a reply to a
 * translated flow (or an ICMP error about one) gets the pod's address and
 * port back as destination. Returns 0 (translated), NAT_PUNT (no mapping: not
 * a reply of ours) or a negative drop reason. Packet pointers are invalid
 * after a translation.
 */
static __always_inline int snat4_reverse(struct __sk_buff *skb, const struct iphdr *ip)
{
	struct nat4_tuple tuple = {};
	struct nat4_l4 l4 = {};
	struct nat4_entry *rev;
	__be32 addr;
	__be16 port;
	int ret;

	ret = nat4_parse(skb, ip, &tuple, &l4);
	if (ret == NAT_PUNT && ip->protocol == IPPROTO_ICMP &&
	    !(ip->frag_off & bpf_htons(IPV4_FRAG_MASK)))
		return snat4_reverse_icmp_error(skb, ip);
	if (ret)
		return ret;
	rev = bpf_map_lookup_elem(&WEFT_SNAT4_REV_MAP, &tuple);
	if (!rev)
		return NAT_PUNT;
	addr = rev->addr;
	port = rev->port;
	return nat4_rewrite_dst(skb, &l4, &tuple, addr, port);
}

/* Marks a UDP flow that a remote peer opened towards a local pod, so that the
 * pod's replies leave untranslated (the peer expects them from the pod's
 * address). The mark is a weft_snat4 entry for the reply direction that maps
 * the pod to itself. Only the first packet writes it; an existing entry
 * (a mark, or a mapping of the pod's own) is left as it is.
 */
static __always_inline void snat4_mark_inbound(struct __sk_buff *skb, const struct iphdr *ip)
{
	struct nat4_tuple tuple = {};
	struct nat4_tuple reply = {};
	struct nat4_entry mark = {};
	struct nat4_l4 l4 = {};

	if (ip->protocol != IPPROTO_UDP || nat4_parse(skb, ip, &tuple, &l4))
		return;
	nat4_reply_tuple(&tuple, tuple.saddr, tuple.sport, &reply);
	if (bpf_map_lookup_elem(&WEFT_SNAT4_MAP, &reply))
		return;
	mark.addr = tuple.daddr;
	mark.port = tuple.dport;
	mark.flags = WEFT_NAT_F_INBOUND;
	mark.created_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&WEFT_SNAT4_MAP, &reply, &mark, BPF_NOEXIST);
}

#endif /* WEFT_BPF_LIB_SNAT_H_ */
