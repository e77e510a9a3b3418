/* Service load balancing: the maps of bpf/maps/lb.h and the choice of a
 * backend. Used at socket level (bpf_sock_lb.c) and at tc level for traffic from
 * outside (lb_external.h).
 *
 * Choice, in order:
 *   1. sessionAffinity: the client's last backend for this frontend, when its
 *      timeout has not run out (the agent deletes the entries of backends it
 *      removes, so a removed endpoint gets no new connection through them);
 *   2. Maglev (LB4_F_MAGLEV): the frontend's lookup table at hash % size, so a
 *      flow's hash maps to the same backend while the set changes little;
 *   3. else uniformly at random over the slots.
 */
#ifndef WEFT_BPF_LIB_LB_H_
#define WEFT_BPF_LIB_LB_H_

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf/maps/lb.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_LB4_SVC_MAX);
	__type(key, struct lb4_key);
	__type(value, struct lb4_service);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_LB4_SVC_MAP SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WEFT_LB4_RANGE_MAX);
	__type(key, struct lpm4_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_LB4_RANGE_MAP SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_LB4_SLOT_MAX);
	__type(key, struct lb4_slot_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_LB4_SLOT_MAP SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_LB4_BACKEND_MAX);
	__type(key, __u32);
	__type(value, struct lb4_backend);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_LB4_BACKEND_MAP SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_LB4_MAGLEV_MAX);
	__type(key, struct lb4_maglev_key);
	__type(value, struct lb4_maglev);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_LB4_MAGLEV_MAP SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_LB4_AFFINITY_MAX);
	__type(key, struct lb4_affinity_key);
	__type(value, struct lb4_affinity);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} WEFT_LB4_AFFINITY_MAP SEC(".maps");

static __always_inline struct lb4_service *lb4_lookup(__be32 addr, __be16 port, __u8 proto,
						      __u8 scope)
{
	struct lb4_key key = {};

	key.addr = addr;
	key.port = port;
	key.proto = proto;
	key.scope = scope;
	return bpf_map_lookup_elem(&WEFT_LB4_SVC_MAP, &key);
}

/* The backend id in slot `index` of the generation `svc` names. */
static __always_inline __u32 lb4_slot(const struct lb4_service *svc, __u32 index)
{
	struct lb4_slot_key key = {};
	__u32 *id;

	key.id = svc->id;
	key.gen = svc->gen;
	key.index = (__u16)index;
	id = bpf_map_lookup_elem(&WEFT_LB4_SLOT_MAP, &key);
	return id ? *id : 0;
}

static __always_inline __u32 lb4_maglev_pick(const struct lb4_service *svc, __u32 hash)
{
	struct lb4_maglev_key key = {};
	struct lb4_maglev *table;
	__u32 index = hash % WEFT_LB4_MAGLEV_SIZE;

	/* clang knows index < size and would drop the check below; the
	 * verifier does not track the bound of a modulo and needs it. */
	barrier_var(index);
	key.id = svc->id;
	key.gen = svc->gen;
	table = bpf_map_lookup_elem(&WEFT_LB4_MAGLEV_MAP, &key);
	if (!table || index >= WEFT_LB4_MAGLEV_SIZE)
		return 0;
	return table->backend_ids[index];
}

/* One try of the generation `svc` names: a backend id, or 0 when a slot (or
 * the table) was already replaced by a newer generation. */
static __always_inline __u32 lb4_pick_once(const struct lb4_service *svc, __u32 hash)
{
	__u32 count = svc->count;

	if (count == 0)
		return 0;
	if (svc->flags & LB4_F_MAGLEV)
		return lb4_maglev_pick(svc, hash);
	return lb4_slot(svc, bpf_get_prandom_u32() % count);
}

/* Picks the backend for a new connection to `key`'s frontend from `client`
 * (see the file comment; `hash` is the flow's, for Maglev). Returns the
 * backend and its id, or NULL when the frontend has none (refuse).
 * `svc` is the caller's copy of the frontend's entry (never the map's value:
 * an element of a hash map without preallocation can be reused by another
 * update while it is being read); when the entry is read again it is
 * refreshed, so the caller's id and flags match the pick.
 */
static __always_inline const struct lb4_backend *lb4_pick(const struct lb4_key *key,
							   struct lb4_service *svc,
							   __u64 client, __u32 hash,
							   __u32 *backend_id)
{
	struct lb4_affinity_key akey = {};
	const struct lb4_backend *be;
	struct lb4_service *again;
	struct lb4_affinity *aff;
	struct lb4_affinity fresh = {};
	__u64 now = 0;
	__u32 id;

	if (svc->flags & LB4_F_AFFINITY) {
		akey.client = client;
		akey.id = svc->id;
		akey.scope = key->scope;
		now = bpf_ktime_get_ns();
		aff = bpf_map_lookup_elem(&WEFT_LB4_AFFINITY_MAP, &akey);
		if (aff && now - aff->last_used_ns <= (__u64)svc->affinity_timeout_s * 1000000000ULL) {
			be = bpf_map_lookup_elem(&WEFT_LB4_BACKEND_MAP, &aff->backend_id);
			if (be) {
				aff->last_used_ns = now;
				*backend_id = aff->backend_id;
				return be;
			}
		}
	}
	id = lb4_pick_once(svc, hash);
	be = id ? bpf_map_lookup_elem(&WEFT_LB4_BACKEND_MAP, &id) : NULL;
	if (!be) {
		/* The service changed under us: its old slot (or table), or the
		 * backend an old slot named, is already gone. Read its entry
		 * again. */
		again = bpf_map_lookup_elem(&WEFT_LB4_SVC_MAP, key);
		if (!again)
			return NULL;
		*svc = *again;
		id = lb4_pick_once(svc, hash);
		if (id == 0)
			return NULL;
		be = bpf_map_lookup_elem(&WEFT_LB4_BACKEND_MAP, &id);
		if (!be)
			return NULL;
	}
	if (now) {
		fresh.last_used_ns = now;
		fresh.backend_id = id;
		bpf_map_update_elem(&WEFT_LB4_AFFINITY_MAP, &akey, &fresh, BPF_ANY);
	}
	*backend_id = id;
	return be;
}

#endif /* WEFT_BPF_LIB_LB_H_ */
