// `talosgen patch`: the Talos strategic-merge patch that hands the pod network to Weft or
// Cilium: Flannel off, kube-proxy off, KubePrism on, pod/Service subnets, the sysctls the
// eBPF datapath needs, and the host DNS fix for BPF masquerade. Every setting carries a
// comment saying why.
#ifndef WEFT_GENERATOR_PATCH_H_
#define WEFT_GENERATOR_PATCH_H_

#include <string>

#include "generator/layout.h"
#include "generator/spec.h"

namespace weft::generator {

struct PatchOptions {
  Role role = Role::kControlPlane;
  Layout layout = Layout::kLegacy;
  // Where the layout came from, for the header: "Talos v1.13.9" or "base.yaml".
  std::string layout_source;
  // The base config the layout was detected from, if any (changes the usage hint).
  std::string base_file;
};

// The patch as YAML text (one or more documents). Pure: same inputs, same bytes.
std::string GeneratePatch(const Spec& spec, const PatchOptions& options);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_PATCH_H_
