// The lab's log files in error messages: a failed start removes the lab, logs
// included, so the lines that explain it travel in the message.
#ifndef WEFT_AGENT_LAB_LOGS_H_
#define WEFT_AGENT_LAB_LOGS_H_

#include <cstddef>
#include <string>

namespace weft::lab {

// "\n  last lines of <path>:\n    <line>\n    <line>..." with the last `lines`
// non-empty lines of the file; empty when the file is missing or empty.
std::string LogTail(const std::string& path, size_t lines);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_LOGS_H_
