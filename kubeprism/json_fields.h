// Non-throwing readers for Kubernetes JSON objects. Each reads parent[key] when it
// is present and not null (leaving `out` untouched otherwise) and reports a wrong
// type as InvalidArgument naming the full field path ("spec.ports[1].port").
#ifndef WEFT_KUBEPRISM_JSON_FIELDS_H_
#define WEFT_KUBEPRISM_JSON_FIELDS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace weft::kubeprism {

// Sorted (key, value) pairs: far smaller than a map for the few labels an object has.
using StringMap = std::vector<std::pair<std::string, std::string>>;

// Returns the value for `key` or nullptr.
const std::string* FindKey(const StringMap& map, absl::string_view key);

namespace json_fields {

// "spec" + "ports" -> "spec.ports"; "" + "spec" -> "spec".
std::string Join(absl::string_view where, absl::string_view key);
std::string Index(absl::string_view where, size_t i);  // "spec.ports[3]"
const char* TypeName(const nlohmann::json& value);

absl::Status ReadString(const nlohmann::json& parent, const char* key, absl::string_view where,
                        std::string* out);
absl::Status ReadInt64(const nlohmann::json& parent, const char* key, absl::string_view where,
                       int64_t* out);
absl::Status ReadInt32(const nlohmann::json& parent, const char* key, absl::string_view where,
                       int32_t* out);
absl::Status ReadBool(const nlohmann::json& parent, const char* key, absl::string_view where,
                      bool* out);
absl::Status ReadStringList(const nlohmann::json& parent, const char* key,
                            absl::string_view where, std::vector<std::string>* out);
// A JSON object of strings, e.g. labels; the result is sorted by key. Keys in `skip`
// are dropped (used for huge annotations nobody reads).
absl::Status ReadStringMap(const nlohmann::json& parent, const char* key, absl::string_view where,
                           StringMap* out, const std::vector<absl::string_view>& skip = {});

// parent[key] as an object or array; nullptr when absent or null.
absl::StatusOr<const nlohmann::json*> ReadObject(const nlohmann::json& parent, const char* key,
                                                 absl::string_view where);
absl::StatusOr<const nlohmann::json*> ReadArray(const nlohmann::json& parent, const char* key,
                                                absl::string_view where);

// Parses text without throwing.
absl::StatusOr<nlohmann::json> Parse(absl::string_view text, absl::string_view what);

}  // namespace json_fields
}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_JSON_FIELDS_H_
