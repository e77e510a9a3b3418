// Whole-file reads and crash-safe writes for state and configuration files.
#ifndef WEFT_COMMON_FILE_UTIL_H_
#define WEFT_COMMON_FILE_UTIL_H_

#include <string>

#include "absl/status/statusor.h"

namespace weft {

// Writes `contents` to `path` atomically (temporary file in the same folder,
// fsync, rename) with permission bits `mode` regardless of the umask. Readers see
// the old or the new file, never a partial one.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents,
                                 int mode = 0600);

// Copies `from` to `to` atomically like WriteFileAtomically, in the kernel
// (sendfile: a large binary is never held in memory; works across filesystems). NotFound when
// `from` does not exist.
absl::Status CopyFileAtomically(const std::string& from, const std::string& to, int mode);

// The running program's path (/proc/self/exe); empty when unreadable.
std::string SelfExecutable();

// `name` in the running program's folder ("/usr/local/lib/weft/weft-cni" for
// weft-agent there): where the programs shipped together find each other.
std::string BesideSelf(const std::string& name);

// Creates `path` and its missing parents with `mode` (like mkdir -p). Existing
// folders are left as they are.
absl::Status MakeDirs(const std::string& path, int mode = 0700);

// Reads a whole file; NotFound when it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace weft

#endif  // WEFT_COMMON_FILE_UTIL_H_
