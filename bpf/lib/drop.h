/* The one registry of drop reasons. Values are negative in the datapath and
 * positive in the flow API; they follow Hubble's DropReason numbering where a
 * matching reason exists and are never renumbered.
 */
#ifndef WEFT_BPF_LIB_DROP_H_
#define WEFT_BPF_LIB_DROP_H_

#define DROP_INVALID_PACKET 134   /* Hubble: INVALID_PACKET_DROPPED */
#define DROP_TTL_EXCEEDED 196     /* Hubble: TTL_EXCEEDED */
#define DROP_FIB_LOOKUP_FAILED 169 /* Hubble: FIB_LOOKUP_FAILED */
#define DROP_WRITE_ERROR 141      /* Hubble: ERROR_WRITING_TO_PACKET */
#define DROP_CSUM_L3 153          /* Hubble: ERROR_WHILE_CORRECTING_L3_CHECKSUM */
#define DROP_CSUM_L4 154          /* Hubble: ERROR_WHILE_CORRECTING_L4_CHECKSUM */
#define DROP_NAT_NO_MAPPING 167   /* Hubble: NO_MAPPING_FOR_NAT_MASQUERADE */

#endif /* WEFT_BPF_LIB_DROP_H_ */
