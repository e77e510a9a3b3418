// Test helper: prints BASE with PATCH... applied (talosgen's strategic merge) as a YAML
// stream, so the schema test can validate the merged configuration against Talos' schema.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "generator/validate.h"
#include "generator/yaml_util.h"

int main(int argc, char** argv) {
  using weft::generator::NamedText;
  std::vector<NamedText> files;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i]);
    if (!in) {
      std::cerr << "merge_tool: cannot read " << argv[i] << "\n";
      return 1;
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    files.push_back({argv[i], buf.str()});
  }
  auto merged = weft::generator::MergeFiles(files);
  if (!merged.ok()) {
    std::cerr << "merge_tool: " << merged.status().message() << "\n";
    return 1;
  }
  std::string out;
  for (size_t i = 0; i < merged->size(); ++i) {
    if (i > 0) out += "---\n";
    out += weft::generator::EmitYaml((*merged)[i]);
  }
  std::cout << out;
  return 0;
}
