/* Map layout shared by pipeline_check.bpf.c and its C++ test.
 *
 * The smallest program that exercises the whole BPF build pipeline (clang -target
 * bpf, bpftool gen object/skeleton, libbpf load, bpf_prog_test_run_opts). Every
 * map layout in Weft lives once in a header like this one, included by both the
 * BPF program and the agent: fixed-width kernel types, explicit padding, sizes
 * checked at compile time.
 */
#ifndef WEFT_BPF_PIPELINE_CHECK_H_
#define WEFT_BPF_PIPELINE_CHECK_H_

#include <linux/types.h>

#include "bpf/lib/layout.h"

/* Index into the pipeline_counts array map. */
enum {
	PIPELINE_COUNT_IPV4 = 0,
	PIPELINE_COUNT_OTHER = 1,
	PIPELINE_COUNT_MALFORMED = 2,
	PIPELINE_COUNT_MAX = 3,
};

struct pipeline_count {
	__u64 packets;
	__u64 bytes;
};

WEFT_LAYOUT_ASSERT(sizeof(struct pipeline_count) == 16, "pipeline_count layout");

#endif /* WEFT_BPF_PIPELINE_CHECK_H_ */
