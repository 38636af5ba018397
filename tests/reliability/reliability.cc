#include "tests/reliability/reliability.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace edge::testing {

Profile CurrentProfile() {
  static const Profile profile = [] {
    const char* value = std::getenv("EDGE_RELIABILITY_PROFILE");
    const std::string name = value != nullptr ? value : "quick";
    if (name == "quick") return Profile::kQuick;
    if (name == "full") return Profile::kFull;
    std::fprintf(stderr, "EDGE_RELIABILITY_PROFILE=%s: expected quick or full\n", name.c_str());
    std::abort();
  }();
  return profile;
}

void RecordFigure(const std::string& scenario, const std::string& measure, const std::string& value,
                  const std::string& target, bool ok) {
  std::printf("FIGURE %s | %s | %s | %s | %s\n", scenario.c_str(), measure.c_str(), value.c_str(),
              target.c_str(), ok ? "ok" : "FAILED");
  std::fflush(stdout);
  EXPECT_TRUE(ok) << scenario << ": " << measure << " = " << value << ", target " << target;
  const char* report = std::getenv("EDGE_RELIABILITY_REPORT");
  if (report == nullptr || *report == '\0') return;
  const std::string line =
      nlohmann::json{
          {"scenario", scenario}, {"measure", measure}, {"value", value},
          {"target", target},     {"ok", ok},           {"profile", Pick("quick", "full")}}
          .dump() +
      "\n";
  const int fd = ::open(report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << "cannot open " << report;
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  EXPECT_TRUE(written) << "cannot append to " << report;
}

}  // namespace edge::testing
