/* IPv4 forwarding helpers shared by the datapath programs. */
#ifndef WEFT_BPF_LIB_L3_H_
#define WEFT_BPF_LIB_L3_H_

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <stddef.h>

#define ETH_HLEN_ 14

/* Returns the IPv4 header when the frame is IPv4 with a complete header. */
static __always_inline struct iphdr *ipv4_hdr(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5)
		return NULL;
	return ip;
}

/* Forwarding an IPv4 packet: decrement TTL and patch the header checksum, as
 * the kernel's forwarding path would. Returns 0, or -1 when the TTL runs out.
 */
static __always_inline int ipv4_dec_ttl(struct __sk_buff *skb, struct iphdr *ip)
{
	__u8 ttl = ip->ttl;
	__u16 old, new;

	if (ttl <= 1)
		return -1;
	old = bpf_htons((__u16)ttl << 8);
	new = bpf_htons((__u16)(ttl - 1) << 8);
	bpf_l3_csum_replace(skb, ETH_HLEN_ + offsetof(struct iphdr, check), old, new, 2);
	bpf_skb_store_bytes(skb, ETH_HLEN_ + offsetof(struct iphdr, ttl), &(__u8){ttl - 1}, 1, 0);
	return 0;
}

/* Rewrites the Ethernet addresses (packet pointers are invalid afterwards). */
static __always_inline void eth_rewrite(struct __sk_buff *skb, const __u8 *dst, const __u8 *src)
{
	bpf_skb_store_bytes(skb, 0, dst, 6, 0);
	bpf_skb_store_bytes(skb, 6, src, 6, 0);
}

#endif /* WEFT_BPF_LIB_L3_H_ */
