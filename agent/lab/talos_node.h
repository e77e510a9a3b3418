// The lab's Talos mode, machine side: the extension image unpacked the way imager
// lays it into a node's root filesystem, and Debian's runc running the extension's
// service container, as Talos's system containerd does on a node.
#ifndef WEFT_AGENT_LAB_TALOS_NODE_H_
#define WEFT_AGENT_LAB_TALOS_NODE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/lab/plan.h"
#include "agent/lab/talos.h"
#include "common/netns/process.h"

namespace weft::lab {

struct UnpackedExtension {
  std::string dir;        // manifest.yaml and rootfs/
  std::string spec_path;  // <dir>/rootfs/usr/local/etc/containers/<file>.yaml
  ServiceSpec spec;
  std::string rootfs;  // <dir>/rootfs/usr/local/lib/containers/<name>, without symlinks
};

// Unpacks an extension image — an OCI image layout folder or an oci-archive
// tarball (what `bazel build //extension:weft-extension` writes) — into `dest`
// (created, must not exist): its layers in order with tar. Then finds the service
// spec named `service` and checks that its entrypoint is in its root filesystem.
absl::StatusOr<UnpackedExtension> UnpackExtension(const std::string& image, const std::string& dest,
                                                  const std::string& service);

// runc with its own state folder (--root): only containers of one lab live there.
struct Runc {
  std::string binary = "runc";
  std::string root;
};

// "runc version 1.1.5+ds1" (the first line of `runc --version`); an error that
// says why runc cannot be used.
absl::StatusOr<std::string> RuncVersion(const std::string& binary);

// `runc --root R run --bundle B ID`: the container in the foreground; runc passes
// the signals it gets to the container's process and deletes the container when
// that exits.
std::vector<std::string> RuncRunArgv(const Runc& runc, const std::string& bundle,
                                     const std::string& id);

// IDs of the containers in runc's state folder (none when the folder is absent).
absl::StatusOr<std::vector<std::string>> RuncList(const Runc& runc);

// `runc kill ID KILL` then `runc delete --force ID`: the container is gone
// afterwards (OK when there was none).
absl::Status RuncRemove(const Runc& runc, const std::string& id);

// The node's /run as a process on a Talos node sees it, for the CNI plugins the
// lab runs as the node's containerd would: the agent's socket folder at
// /var/run/weft (the node's run folder, which the container mounts there too) and
// this machine's /var/run/netns (the pods' namespaces). Bind mounts for
// netns::SpawnOptions::mounts; PrepareNodeRunView creates their mount points in
// the node's folder.
std::vector<netns::BindMount> NodeRunView(const NodePlan& node);
absl::Status PrepareNodeRunView(const NodePlan& node);

// Where this machine mounts cgroup v2 (/sys/fs/cgroup, or /sys/fs/cgroup/unified
// on a hybrid layout), from /proc/self/mountinfo.
absl::StatusOr<std::string> CgroupV2Mount();

// This process's capability bounding set (CapBnd in /proc/self/status).
absl::StatusOr<uint64_t> CapabilityBoundingSet();

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_TALOS_NODE_H_
