/* Compile-time layout checks usable from BPF C and from the agent's C++. */
#ifndef WEFT_BPF_LIB_LAYOUT_H_
#define WEFT_BPF_LIB_LAYOUT_H_

#ifdef __cplusplus
#define WEFT_LAYOUT_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define WEFT_LAYOUT_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#endif /* WEFT_BPF_LIB_LAYOUT_H_ */
