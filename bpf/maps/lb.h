/* The Service load-balancing maps (kube-proxy replacement), IPv4.
 *
 * Written by the agent (agent/datapath/services.cc) from the Services and
 * EndpointSlices it watches; read by the socket programs (bpf_sock_lb.c: pods'
 * and the host's connections, translated once at connect/sendmsg) and by the
 * native-device programs (bpf_netdev.c: NodePort, external and LoadBalancer
 * addresses reached from outside, translated per packet with conntrack).
 *
 *   weft_lb4_svc      frontend {address, port, protocol, scope} -> service:
 *                     its id, the generation of its backend slots, how many
 *                     backends, flags, affinity timeout
 *   weft_lb4_slot     {service id, generation, index} -> backend id
 *   weft_lb4_maglev   {service id, generation} -> Maglev lookup table of
 *                     backend ids (only for services marked LB4_F_MAGLEV)
 *   weft_lb4_backend  backend id -> {address, port, protocol}
 *   weft_lb4_range    the cluster's Service ranges (LPM trie of lpm4_key,
 *                     value __u32 reserved 0): a connection from a pod or the
 *                     host to an address of a range that is no frontend (a
 *                     deleted Service, a port its Service does not have) is
 *                     refused at once; a frontend marked LB4_F_PASS (another
 *                     proxy's Service) is left untranslated and unrefused
 *
 * Atomic updates: a changed service gets its new slots (and table) under the
 * next generation first, then its weft_lb4_svc entry is replaced in one
 * update (hash map updates swap in a whole new element), then the old
 * generation is deleted. Readers copy the entry right after the lookup (the
 * old element's memory may be reused at once) and pick from the copy. A
 * reader that copied the old entry just before the swap may miss an old slot,
 * or the backend an old slot named, once; it reads the entry again (lb4_pick
 * in bpf/lib/lb.h).
 *
 * State written by the datapath, never by the agent:
 *   weft_lb4_sock_rev  {socket cookie, backend address, port} -> the frontend
 *                      (recvmsg4 / getpeername4 show the Service address)
 *   weft_lb4_affinity  {service id, client} -> backend and last use
 *                      (sessionAffinity: ClientIP; client = the netns cookie at
 *                      socket level, the client address at tc level)
 *   weft_lb4_ct        external flows: the client's tuple as it arrives ->
 *                      the backend chosen (later packets keep it)
 *   weft_lb4_ct_rev    the backend's reply tuple -> the frontend it answers as
 *
 * Layout rules: fixed width types, byte order in the type, explicit padding,
 * zeroed before use (hash keys compare every byte, padding included).
 */
#ifndef WEFT_BPF_MAPS_LB_H_
#define WEFT_BPF_MAPS_LB_H_

#include <linux/types.h>

#include "bpf/lib/layout.h"
#include "bpf/maps/lpm4.h"

#define WEFT_LB4_SVC_MAP weft_lb4_svc_v1
#define WEFT_LB4_SLOT_MAP weft_lb4_slot_v1
#define WEFT_LB4_MAGLEV_MAP weft_lb4_maglev_v1
#define WEFT_LB4_BACKEND_MAP weft_lb4_backend_v1
#define WEFT_LB4_SOCK_REV_MAP weft_lb4_sock_rev_v1
#define WEFT_LB4_AFFINITY_MAP weft_lb4_affinity_v1
#define WEFT_LB4_CT_MAP weft_lb4_ct_v1
#define WEFT_LB4_CT_REV_MAP weft_lb4_ct_rev_v1
#define WEFT_LB4_CONFIG_MAP weft_lb4_config_v1
#define WEFT_LB4_RANGE_MAP weft_lb4_range_v1

/* Frontends (a Service address and port, per scope). */
#define WEFT_LB4_SVC_MAX 65536
/* Backend slots over all frontends, both generations while one changes. */
#define WEFT_LB4_SLOT_MAX 524288
#define WEFT_LB4_BACKEND_MAX 131072
/* Maglev tables (services using Maglev; two generations while one changes). */
#define WEFT_LB4_MAGLEV_MAX 32768
/* Entries of a Maglev table: a prime, so every backend's permutation visits
 * every entry. Much larger than any Service's backend count (disruption when a
 * backend goes is close to the ideal 1/N for N up to ~100). */
#define WEFT_LB4_MAGLEV_SIZE 1021
/* Backends per frontend (slot index is 16 bits; a Service this large is
 * refused by the agent with a reason). */
#define WEFT_LB4_BACKENDS_PER_SVC 65535
#define WEFT_LB4_SOCK_REV_MAX 262144
#define WEFT_LB4_AFFINITY_MAX 65536
#define WEFT_LB4_CT_MAX 131072
/* Service ranges (kube-apiserver's --service-cluster-ip-range: one or two). */
#define WEFT_LB4_RANGE_MAX 16

/* lb4_key.scope */
/* Connections made on this node (pods and host, socket programs). */
#define LB4_SCOPE_SOCKET 0
/* Packets arriving from outside the node (native devices, tc). */
#define LB4_SCOPE_EXTERNAL 1

/* lb4_service.flags */
/* sessionAffinity: ClientIP (affinity_timeout_s is set). */
#define LB4_F_AFFINITY (1U << 0)
/* Backends are picked through the Maglev table, not at random. */
#define LB4_F_MAGLEV (1U << 1)
/* Socket scope: another proxy's Service (service.kubernetes.io/service-proxy-name);
 * connections pass untranslated, and are not refused as weft_lb4_range would. */
#define LB4_F_PASS (1U << 3)
/* External scope: the client's source is rewritten to this node's address
 * (externalTrafficPolicy: Cluster; replies must come back through here).
 * Without it the source is kept (Local: every backend is on this node). */
#define LB4_F_SNAT (1U << 2)

/* lb4_ct.flags */
/* The flow was source-translated (LB4_F_SNAT) as well. */
#define LB4_CT_F_SNAT (1U << 0)

struct lb4_key {
	__be32 addr;
	__be16 port;   /* 0 never: a frontend always has a port */
	__u8 proto;    /* IPPROTO_TCP, IPPROTO_UDP */
	__u8 scope;    /* LB4_SCOPE_* */
};

struct lb4_service {
	__u32 id;      /* frontend id: > 0, unique among live frontends */
	__u16 gen;     /* generation of this frontend's slots and Maglev table */
	__u16 count;   /* backends in slots [0, count); 0: refuse connections */
	__u32 flags;   /* LB4_F_* */
	__u32 affinity_timeout_s;
};

struct lb4_slot_key {
	__u32 id;
	__u16 gen;
	__u16 index;
};

struct lb4_backend {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct lb4_maglev_key {
	__u32 id;
	__u32 gen;     /* lb4_service.gen, widened (explicit, no padding) */
};

/* Backend ids; every entry names a backend of the service's slots. */
struct lb4_maglev {
	__u32 backend_ids[WEFT_LB4_MAGLEV_SIZE];
};

struct lb4_sock_rev_key {
	__u64 cookie;  /* bpf_get_socket_cookie() of the client socket */
	__be32 addr;   /* the backend the socket was sent to */
	__be16 port;
	__u16 pad;
};

struct lb4_sock_rev {
	__be32 addr;   /* the frontend the application asked for */
	__be16 port;
	__u16 pad;
	__u32 id;      /* frontend id */
	__u32 pad2;
};

struct lb4_affinity_key {
	__u64 client;  /* netns cookie (socket scope) or client IPv4 (external) */
	__u32 id;      /* frontend id */
	__u32 scope;   /* LB4_SCOPE_* (a cookie and an address never collide) */
};

struct lb4_affinity {
	__u64 last_used_ns;  /* bpf_ktime_get_ns() */
	__u32 backend_id;
	__u32 pad;
};

struct lb4_ct {
	__be32 backend_addr;
	__be16 backend_port;
	__u16 flags;        /* LB4_CT_F_* */
	__u32 id;           /* frontend id */
	__u32 backend_id;
	__u64 created_ns;
};

struct lb4_ct_rev {
	__be32 frontend_addr;
	__be16 frontend_port;
	__u16 pad;
	__u32 id;
	__u32 pad2;
};

/* weft_lb4_config: one entry (key 0). */
struct lb4_config {
	__be32 snat_addr4;  /* this node's address for LB4_F_SNAT flows; 0: none */
	__u32 flags;        /* reserved, 0 */
};

WEFT_LAYOUT_ASSERT(sizeof(struct lb4_key) == 8, "lb4_key layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_service) == 16, "lb4_service layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_slot_key) == 8, "lb4_slot_key layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_backend) == 8, "lb4_backend layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_maglev_key) == 8, "lb4_maglev_key layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_maglev) == 4 * WEFT_LB4_MAGLEV_SIZE, "lb4_maglev layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_sock_rev_key) == 16, "lb4_sock_rev_key layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_sock_rev) == 16, "lb4_sock_rev layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_affinity_key) == 16, "lb4_affinity_key layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_affinity) == 16, "lb4_affinity layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_ct) == 24, "lb4_ct layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_ct_rev) == 16, "lb4_ct_rev layout");
WEFT_LAYOUT_ASSERT(sizeof(struct lb4_config) == 8, "lb4_config layout");

#endif /* WEFT_BPF_MAPS_LB_H_ */
