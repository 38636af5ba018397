// Child processes for tests that talk to real peers: the edge-agent binary, plc-sim, mosquitto,
// a pymodbus server. Output goes to files in a private temporary directory (no pipe can fill up
// and block the child), which tests read while the child runs. The destructor kills and reaps a
// child that is still running, so a failing test never leaves a process behind.
//
// Thread-safety: one owner thread per Subprocess.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edge::testing {

struct SubprocessOptions {
  std::vector<std::string> argv{};  // argv[0] is the program (PATH is searched)
  std::string cwd{};                // empty: the test's working directory
  std::vector<std::pair<std::string, std::string>> env{};  // added to / overriding the environment
  std::vector<std::string> unset_env{};
  // Sets JOURNAL_STREAM to the device:inode of the child's stderr file, as systemd does when
  // stderr is the journal, so that journal-format logging can be tested without systemd.
  bool stderr_as_journal = false;
};

class Subprocess {
 public:
  // Aborts the test program if fork/exec plumbing fails (a broken test machine, not a result).
  explicit Subprocess(const SubprocessOptions& options);
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  void Signal(int signo);

  // The exit status once the child has ended within `timeout`: its exit code, or 128 + signal
  // number if a signal ended it. nullopt if it is still running.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool running();

  std::string Stdout() const;
  std::string Stderr() const;

  // Waits until `needle` appears in stdout or stderr, the child ends, or `timeout` passes.
  bool WaitForOutput(std::string_view needle, std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::string dir_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a command to completion (killing it after `timeout`, which then fails the check of
// exit_code in the caller: exit_code is -1).
CommandResult RunCommand(const SubprocessOptions& options,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace edge::testing
