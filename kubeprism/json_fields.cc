#include "kubeprism/json_fields.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace weft::kubeprism {

const std::string* FindKey(const StringMap& map, absl::string_view key) {
  auto it = std::lower_bound(map.begin(), map.end(), key,
                             [](const auto& entry, absl::string_view k) { return entry.first < k; });
  if (it == map.end() || it->first != key) return nullptr;
  return &it->second;
}

namespace json_fields {
namespace {

using nlohmann::json;

absl::Status WrongType(absl::string_view where, const char* key, const char* want,
                       const json& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(Join(where, key), ": expected ", want, ", got ", TypeName(got)));
}

// The value at parent[key] if present and not null.
const json* Present(const json& parent, const char* key) {
  if (!parent.is_object()) return nullptr;
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

std::string Join(absl::string_view where, absl::string_view key) {
  if (where.empty()) return std::string(key);
  return absl::StrCat(where, ".", key);
}

std::string Index(absl::string_view where, size_t i) { return absl::StrCat(where, "[", i, "]"); }

const char* TypeName(const json& value) { return value.type_name(); }

absl::Status ReadString(const json& parent, const char* key, absl::string_view where,
                        std::string* out) {
  const json* v = Present(parent, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_string()) return WrongType(where, key, "string", *v);
  *out = v->get_ref<const std::string&>();
  return absl::OkStatus();
}

absl::Status ReadInt64(const json& parent, const char* key, absl::string_view where,
                       int64_t* out) {
  const json* v = Present(parent, key);
  if (v == nullptr) return absl::OkStatus();
  if (v->is_number_integer()) {
    *out = v->get<int64_t>();
    return absl::OkStatus();
  }
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(absl::StrCat(Join(where, key), ": ", u, " out of range"));
    }
    *out = static_cast<int64_t>(u);
    return absl::OkStatus();
  }
  return WrongType(where, key, "integer", *v);
}

absl::Status ReadInt32(const json& parent, const char* key, absl::string_view where,
                       int32_t* out) {
  int64_t value = *out;
  absl::Status s = ReadInt64(parent, key, where, &value);
  if (!s.ok()) return s;
  if (value < std::numeric_limits<int32_t>::min() || value > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Join(where, key), ": ", value, " out of 32-bit range"));
  }
  *out = static_cast<int32_t>(value);
  return absl::OkStatus();
}

absl::Status ReadBool(const json& parent, const char* key, absl::string_view where, bool* out) {
  const json* v = Present(parent, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_boolean()) return WrongType(where, key, "boolean", *v);
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadStringList(const json& parent, const char* key, absl::string_view where,
                            std::vector<std::string>* out) {
  const json* v = Present(parent, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_array()) return WrongType(where, key, "array", *v);
  std::vector<std::string> result;
  result.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    if (!item.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(Index(Join(where, key), i),
                                                     ": expected string, got ", TypeName(item)));
    }
    result.push_back(item.get_ref<const std::string&>());
  }
  *out = std::move(result);
  return absl::OkStatus();
}

absl::Status ReadStringMap(const json& parent, const char* key, absl::string_view where,
                           StringMap* out, const std::vector<absl::string_view>& skip) {
  const json* v = Present(parent, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_object()) return WrongType(where, key, "object", *v);
  StringMap result;
  result.reserve(v->size());
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (std::find(skip.begin(), skip.end(), it.key()) != skip.end()) continue;
    if (!it.value().is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(Join(where, key), "[\"", it.key(),
                                                     "\"]: expected string, got ",
                                                     TypeName(it.value())));
    }
    result.emplace_back(it.key(), it.value().get_ref<const std::string&>());
  }
  // nlohmann's default object is a std::map, so keys already come sorted; keep the
  // invariant explicit for FindKey.
  std::sort(result.begin(), result.end());
  *out = std::move(result);
  return absl::OkStatus();
}

absl::StatusOr<const json*> ReadObject(const json& parent, const char* key,
                                       absl::string_view where) {
  const json* v = Present(parent, key);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) return WrongType(where, key, "object", *v);
  return v;
}

absl::StatusOr<const json*> ReadArray(const json& parent, const char* key,
                                      absl::string_view where) {
  const json* v = Present(parent, key);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) return WrongType(where, key, "array", *v);
  return v;
}

absl::StatusOr<json> Parse(absl::string_view text, absl::string_view what) {
  json value = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not valid JSON"));
  }
  return value;
}

}  // namespace json_fields
}  // namespace weft::kubeprism
