#include "kubeprism/testing/selectors.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace weft::kubeprism::testing {
namespace {

// Splits on commas outside parentheses.
std::vector<std::string> SplitTerms(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  out.push_back(current);
  return out;
}

std::string Trim(absl::string_view s) { return std::string(absl::StripAsciiWhitespace(s)); }

const nlohmann::json* Lookup(const nlohmann::json& root, const std::string& path) {
  const nlohmann::json* node = &root;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(std::string(part));
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

std::string AsString(const nlohmann::json* value) {
  if (value == nullptr || value->is_null()) return "";
  if (value->is_string()) return value->get<std::string>();
  return value->dump();
}

}  // namespace

bool Selector::ParseEqualityTerm(const std::string& term, Term* t) {
  size_t pos;
  size_t op_len;
  if ((pos = term.find("!=")) != std::string::npos) {
    t->op = Op::kNotEquals;
    op_len = 2;
  } else if ((pos = term.find("==")) != std::string::npos) {
    t->op = Op::kEquals;
    op_len = 2;
  } else if ((pos = term.find('=')) != std::string::npos) {
    t->op = Op::kEquals;
    op_len = 1;
  } else {
    return false;
  }
  t->key = Trim(term.substr(0, pos));
  t->values = {Trim(term.substr(pos + op_len))};
  return true;
}

absl::StatusOr<Selector> Selector::ParseFields(const std::string& text) {
  Selector selector;
  if (Trim(text).empty()) return selector;
  for (const std::string& raw : SplitTerms(text)) {
    const std::string term = Trim(raw);
    Term t;
    if (!ParseEqualityTerm(term, &t)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid field selector: '", term, "': expected an operator"));
    }
    if (t.key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid field selector: '", term, "'"));
    }
    selector.terms_.push_back(std::move(t));
  }
  return selector;
}

absl::StatusOr<Selector> Selector::ParseLabels(const std::string& text) {
  Selector selector;
  selector.labels_ = true;
  if (Trim(text).empty()) return selector;
  for (const std::string& raw : SplitTerms(text)) {
    const std::string term = Trim(raw);
    Term t;
    size_t pos;
    if (term.empty()) {
      return absl::InvalidArgumentError("invalid label selector: empty term");
    } else if ((pos = term.find(" notin ")) != std::string::npos ||
               (pos = term.find(" in ")) != std::string::npos) {
      const bool notin = term.compare(pos, 7, " notin ") == 0;
      t.op = notin ? Op::kNotIn : Op::kIn;
      t.key = Trim(term.substr(0, pos));
      std::string set = Trim(term.substr(pos + (notin ? 7 : 4)));
      if (set.size() < 2 || set.front() != '(' || set.back() != ')') {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid label selector: '", term, "': expected (values)"));
      }
      for (absl::string_view v : absl::StrSplit(set.substr(1, set.size() - 2), ',')) {
        t.values.push_back(Trim(v));
      }
    } else if (ParseEqualityTerm(term, &t)) {
    } else if (term[0] == '!') {
      t.op = Op::kNotExists;
      t.key = Trim(term.substr(1));
    } else {
      t.op = Op::kExists;
      t.key = term;
    }
    if (t.key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid label selector: '", term, "'"));
    }
    selector.terms_.push_back(std::move(t));
  }
  return selector;
}

bool Selector::Matches(const StoredObject& object) const {
  for (const Term& t : terms_) {
    bool present;
    std::string value;
    if (labels_) {
      const nlohmann::json* labels = Lookup(object.json, "metadata.labels");
      const nlohmann::json* v = nullptr;
      if (labels != nullptr && labels->is_object()) {
        auto it = labels->find(t.key);
        if (it != labels->end()) v = &*it;
      }
      present = v != nullptr;
      value = AsString(v);
    } else if (t.key == "metadata.name") {
      present = true;
      value = object.name;
    } else if (t.key == "metadata.namespace") {
      present = true;
      value = object.ns;
    } else {
      const nlohmann::json* v = Lookup(object.json, t.key);
      present = v != nullptr;
      value = AsString(v);
    }
    const bool in_values = std::find(t.values.begin(), t.values.end(), value) != t.values.end();
    switch (t.op) {
      case Op::kEquals:
      case Op::kIn:
        if (!(labels_ ? present && in_values : in_values)) return false;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (labels_ ? present && in_values : in_values) return false;
        break;
      case Op::kExists:
        if (!present) return false;
        break;
      case Op::kNotExists:
        if (present) return false;
        break;
    }
  }
  return true;
}

}  // namespace weft::kubeprism::testing
