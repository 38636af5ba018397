// One figure of /proc/self/status for the tests that bound this process's memory (VmRSS, the
// resident set now; VmHWM, its peak since start or since "5" was written to
// /proc/self/clear_refs).
//
// Thread-safety: no shared state.
#pragma once

#include <cstdint>
#include <string_view>

namespace edge::testing {

// The value of `field` ("VmRSS", "VmHWM") in KiB; -1 when the line is not there.
int64_t ProcStatusKiB(std::string_view field);

}  // namespace edge::testing
