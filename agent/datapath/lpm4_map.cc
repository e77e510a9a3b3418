#include "agent/datapath/lpm4_map.h"

#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace weft::datapath {

lpm4_key Lpm4KeyOf(const net::IpPrefix& p) {
  lpm4_key k;
  memset(&k, 0, sizeof(k));
  k.prefixlen = static_cast<__u32>(p.length());
  memcpy(&k.addr, p.address().bytes().data(), 4);
  return k;
}

namespace {

bool SameKey(const lpm4_key& a, const lpm4_key& b) {
  return a.prefixlen == b.prefixlen && a.addr == b.addr;
}

absl::Status Errno(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

}  // namespace

absl::Status ReplaceLpm4(int fd, const std::vector<net::IpPrefix>& cidrs, size_t max_entries,
                         const char* what, std::optional<std::vector<lpm4_key>>* last) {
  std::vector<lpm4_key> want;
  for (const auto& p : cidrs) {
    if (p.family() == net::Family::kV4) want.push_back(Lpm4KeyOf(p));
  }
  if (*last && std::equal(want.begin(), want.end(), (*last)->begin(), (*last)->end(), SameKey)) {
    return absl::OkStatus();
  }
  if (want.size() > max_entries) {
    return absl::InvalidArgumentError(absl::StrCat(want.size(), " ", what,
                                                   " prefixes: more than the map holds (",
                                                   max_entries, ")"));
  }
  for (const auto& key : want) {
    __u32 value = 0;
    if (bpf_map_update_elem(fd, &key, &value, BPF_ANY) != 0) {
      return Errno(absl::StrCat("update the ", what, " map"), errno);
    }
  }
  std::vector<lpm4_key> stale;
  lpm4_key cur, next;
  lpm4_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (std::none_of(want.begin(), want.end(), [&](const lpm4_key& k) { return SameKey(k, next); })) {
      stale.push_back(next);
    }
    cur = next;
    prev = &cur;
  }
  for (auto& k : stale) {
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT) {
      return Errno(absl::StrCat("delete from the ", what, " map"), errno);
    }
  }
  *last = std::move(want);
  return absl::OkStatus();
}

}  // namespace weft::datapath
