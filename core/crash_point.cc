#include "core/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

namespace edge {

namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

void CrashPoint(std::string_view point) {
  static const std::string armed = Env("EDGE_TEST_CRASH_AT");
  if (!armed.empty() && armed == point) ::kill(::getpid(), SIGKILL);
}

void StallPoint(std::string_view point) {
  static const std::string armed = Env("EDGE_TEST_STALL_AT");
  while (!armed.empty() && armed == point) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace edge
