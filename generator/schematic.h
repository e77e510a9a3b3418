// `talosgen schematic`: the Image Factory schematic (official extensions, kernel args), and
// as YAML comments the imager command that builds an installer with Weft's own extension,
// which Image Factory cannot add (it only serves official extensions; FACTS §6).
#ifndef WEFT_GENERATOR_SCHEMATIC_H_
#define WEFT_GENERATOR_SCHEMATIC_H_

#include <string>

#include "generator/pins.h"
#include "generator/spec.h"

namespace weft::generator {

// Valid YAML: the schematic document; the imager steps are comments. Pure.
std::string GenerateSchematic(const Spec& spec, const Pins& pins);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_SCHEMATIC_H_
