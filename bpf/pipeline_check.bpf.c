// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Pipeline check: counts packets by kind and drops truncated IPv4 headers.
 *
 * Attaches at tc (clsact ingress or egress) on any device. It exists so that the
 * build rule, the skeleton and the packet-fixture test harness stay exercised.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bpf/pipeline_check.h"

/* Per-kind packet and byte counters, read by the test. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PIPELINE_COUNT_MAX);
	__type(key, __u32);
	__type(value, struct pipeline_count);
} pipeline_counts SEC(".maps");

static __always_inline void count(__u32 kind, __u32 len)
{
	struct pipeline_count *c = bpf_map_lookup_elem(&pipeline_counts, &kind);

	if (!c)
		return;
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, len);
}

/* tc classifier: pass everything except IPv4 frames too short for their header. */
SEC("tc")
int weft_pipeline_check(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;

	if ((void *)(eth + 1) > data_end) {
		count(PIPELINE_COUNT_MALFORMED, skb->len);
		return TC_ACT_SHOT;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		count(PIPELINE_COUNT_OTHER, skb->len);
		return TC_ACT_OK;
	}
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5) {
		count(PIPELINE_COUNT_MALFORMED, skb->len);
		return TC_ACT_SHOT;
	}
	count(PIPELINE_COUNT_IPV4, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
