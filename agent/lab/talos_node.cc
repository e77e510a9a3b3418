#include "agent/lab/talos_node.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/netns/process.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace weft::lab {
namespace {

using nlohmann::json;

constexpr absl::Duration kToolTimeout = absl::Minutes(2);

absl::StatusOr<netns::ProcessResult> Run(std::vector<std::string> argv) {
  netns::SpawnOptions options;
  options.argv = std::move(argv);
  return netns::RunProcess(options, "", kToolTimeout);
}

absl::Status RunOk(std::vector<std::string> argv) {
  const std::string what = absl::StrJoin(argv, " ");
  ASSIGN_OR_RETURN(netns::ProcessResult r, Run(std::move(argv)));
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat(what, ": exit code ", r.exit_code, ": ", absl::StripAsciiWhitespace(r.err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<json> ReadJson(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  }
  return j;
}

// "sha256:<hex>" -> <layout>/blobs/sha256/<hex>
absl::StatusOr<std::string> BlobPath(const std::string& layout, const json& descriptor) {
  const std::string digest = descriptor.value("digest", "");
  std::vector<std::string> parts = absl::StrSplit(digest, absl::MaxSplits(':', 1));
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty() ||
      absl::StrContains(parts[1], "/") || absl::StrContains(parts[0], "/")) {
    return absl::InvalidArgumentError(absl::StrCat("bad digest \"", digest, "\""));
  }
  return absl::StrCat(layout, "/blobs/", parts[0], "/", parts[1]);
}

// The image manifest of a layout: index.json's first manifest (through nested indexes).
absl::StatusOr<json> ImageManifest(const std::string& layout) {
  ASSIGN_OR_RETURN(json index, ReadJson(layout + "/index.json"));
  for (int depth = 0; depth < 4; ++depth) {
    if (!index.contains("manifests") || !index["manifests"].is_array() ||
        index["manifests"].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(layout, ": the image index lists no manifest"));
    }
    const json& first = index["manifests"][0];
    ASSIGN_OR_RETURN(std::string path, BlobPath(layout, first));
    ASSIGN_OR_RETURN(json next, ReadJson(path));
    if (first.value("mediaType", "") == "application/vnd.oci.image.index.v1+json") {
      index = next;
      continue;
    }
    return next;
  }
  return absl::InvalidArgumentError(absl::StrCat(layout, ": image indexes nested too deep"));
}

absl::Status ExtractLayers(const std::string& layout, const std::string& dest) {
  ASSIGN_OR_RETURN(json manifest, ImageManifest(layout));
  if (!manifest.contains("layers") || !manifest["layers"].is_array() ||
      manifest["layers"].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(layout, ": the image has no layers"));
  }
  for (const json& layer : manifest["layers"]) {
    ASSIGN_OR_RETURN(std::string blob, BlobPath(layout, layer));
    const std::string type = layer.value("mediaType", "");
    std::string flags;
    if (absl::EndsWith(type, ".tar+gzip") || absl::EndsWith(type, ".tar.gzip")) {
      flags = "-xzf";
    } else if (absl::EndsWith(type, ".tar")) {
      flags = "-xf";
    } else {
      return absl::InvalidArgumentError(absl::StrCat(layout, ": layer of media type \"", type,
                                                     "\" (expected a tar or tar+gzip)"));
    }
    // Extension layers carry no whiteouts (an extension is one layer from scratch).
    RETURN_IF_ERROR(RunOk({"tar", flags, blob, "-C", dest}));
  }
  return absl::OkStatus();
}

std::vector<std::string> YamlFiles(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (absl::EndsWith(e->d_name, ".yaml")) out.push_back(absl::StrCat(dir, "/", e->d_name));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::StatusOr<UnpackedExtension> UnpackExtension(const std::string& image, const std::string& dest,
                                                  const std::string& service) {
  struct stat st {};
  if (stat(image.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("extension image ", image, ": ", strerror(errno)));
  }
  if (mkdir(dest.c_str(), 0700) != 0) {
    return absl::InternalError(absl::StrCat("create ", dest, ": ", strerror(errno)));
  }
  std::string layout = image;
  std::string archive_dir;
  if (!S_ISDIR(st.st_mode)) {
    // An oci-archive: the layout in a tarball.
    archive_dir = dest + "/.oci-archive";
    RETURN_IF_ERROR(MakeDirs(archive_dir, 0700));
    RETURN_IF_ERROR(RunOk({"tar", "-xf", image, "-C", archive_dir}));
    layout = archive_dir;
  }
  absl::Status extracted = ExtractLayers(layout, dest);
  if (!archive_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(archive_dir, ec);
  }
  RETURN_IF_ERROR(extracted);
  if (access((dest + "/manifest.yaml").c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(image, ": not a Talos system extension (no /manifest.yaml)"));
  }

  UnpackedExtension out;
  out.dir = dest;
  const std::string spec_dir = absl::StrCat(dest, "/rootfs", kExtensionSpecDir);
  std::vector<std::string> names;
  for (const std::string& path : YamlFiles(spec_dir)) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    ASSIGN_OR_RETURN(ServiceSpec spec, ParseServiceSpec(text, path));
    names.push_back(spec.name);
    if (spec.name == service) {
      out.spec_path = path;
      out.spec = std::move(spec);
    }
  }
  if (out.spec_path.empty()) {
    return absl::NotFoundError(
        absl::StrCat(image, ": no extension service \"", service, "\" in ", kExtensionSpecDir,
                     " (found: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
  }
  out.rootfs = absl::StrCat(dest, "/rootfs", kExtensionRootfsDir, "/", service);
  // runc wants the root without symlinks (the default state folder is under
  // /var/run, a symlink to /run on Debian).
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::canonical(out.rootfs, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat(image, ": no root filesystem for service ", service,
                                            " (", out.rootfs, ": ", ec.message(), ")"));
  }
  out.rootfs = canonical.string();
  const std::string entrypoint = out.rootfs + out.spec.entrypoint;
  if (access(entrypoint.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(image, ": the entrypoint ", out.spec.entrypoint,
                                            " of service ", service,
                                            " is not an executable file in its root filesystem"));
  }
  return out;
}

absl::StatusOr<std::string> RuncVersion(const std::string& binary) {
  absl::StatusOr<netns::ProcessResult> r = Run({binary, "--version"});
  if (!r.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("runc (", binary,
                                                      ") cannot run: ", r.status().message(),
                                                      " (Debian: apt-get install runc)"));
  }
  if (r->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        binary, " --version: exit code ", r->exit_code, ": ", absl::StripAsciiWhitespace(r->err)));
  }
  return std::string(absl::StripAsciiWhitespace(r->out.substr(0, r->out.find('\n'))));
}

std::vector<std::string> RuncRunArgv(const Runc& runc, const std::string& bundle,
                                     const std::string& id) {
  return {runc.binary, "--root", runc.root, "run", "--bundle", bundle, id};
}

absl::StatusOr<std::vector<std::string>> RuncList(const Runc& runc) {
  if (access(runc.root.c_str(), F_OK) != 0) return std::vector<std::string>{};
  ASSIGN_OR_RETURN(netns::ProcessResult r,
                   Run({runc.binary, "--root", runc.root, "list", "--quiet"}));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("runc --root ", runc.root, " list: exit code ",
                                            r.exit_code, ": ", absl::StripAsciiWhitespace(r.err)));
  }
  std::vector<std::string> ids;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipWhitespace())) {
    ids.emplace_back(absl::StripAsciiWhitespace(line));
  }
  return ids;
}

absl::Status RuncRemove(const Runc& runc, const std::string& id) {
  ASSIGN_OR_RETURN(std::vector<std::string> ids, RuncList(runc));
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) return absl::OkStatus();
  // A stopped container refuses the kill; delete --force covers both.
  (void)Run({runc.binary, "--root", runc.root, "kill", id, "KILL"});
  return RunOk({runc.binary, "--root", runc.root, "delete", "--force", id});
}

std::vector<netns::BindMount> NodeRunView(const NodePlan& node) {
  const std::string view = node.host_run_dir();
  return {{"/var/run/netns", view + "/netns", /*recursive=*/true},
          {node.run_dir(), view + "/weft", /*recursive=*/false},
          {view, "/var/run", /*recursive=*/true}};
}

absl::Status PrepareNodeRunView(const NodePlan& node) {
  RETURN_IF_ERROR(MakeDirs(node.host_run_dir() + "/netns", 0700));
  RETURN_IF_ERROR(MakeDirs(node.host_run_dir() + "/weft", 0700));
  return MakeDirs(node.run_dir(), 0700);
}

absl::StatusOr<std::string> CgroupV2Mount() {
  ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/mountinfo"));
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <type> ..."
    std::vector<absl::string_view> halves = absl::StrSplit(line, absl::MaxSplits(" - ", 1));
    if (halves.size() != 2 || !absl::StartsWith(halves[1], "cgroup2 ")) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(halves[0], ' ');
    if (fields.size() >= 5 && fields[3] == "/") return std::string(fields[4]);
  }
  return absl::FailedPreconditionError(
      "this machine has no cgroup v2 mount (Talos mounts cgroup v2 at /sys/fs/cgroup; the "
      "extension's spec bind-mounts it)");
}

absl::StatusOr<uint64_t> CapabilityBoundingSet() {
  ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/status"));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, "CapBnd:")) continue;
    uint64_t mask = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(line), &mask)) break;
    return mask;
  }
  return absl::InternalError("/proc/self/status: no CapBnd line");
}

}  // namespace weft::lab
