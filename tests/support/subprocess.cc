#include "tests/support/subprocess.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace edge::testing {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "subprocess: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

Subprocess::Subprocess(const SubprocessOptions& options) {
  char dir_template[] = "/tmp/edge-subprocess-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) Die("mkdtemp");
  dir_ = dir_template;
  const std::string out_path = dir_ + "/stdout";
  const std::string err_path = dir_ + "/stderr";

  std::vector<char*> argv;
  for (const std::string& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  pid_ = fork();
  if (pid_ < 0) Die("fork");
  if (pid_ == 0) {
    // Child: only async-signal-safe calls from here to exec, plus setenv (single-threaded
    // after fork as far as this process is concerned).
    FILE* out = std::freopen(out_path.c_str(), "w", stdout);
    FILE* err = std::freopen(err_path.c_str(), "w", stderr);
    if (out == nullptr || err == nullptr) _exit(127);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(127);
    for (const auto& [key, value] : options.env) setenv(key.c_str(), value.c_str(), 1);
    for (const std::string& key : options.unset_env) unsetenv(key.c_str());
    if (options.stderr_as_journal) {
      struct stat st {};
      if (fstat(STDERR_FILENO, &st) != 0) _exit(127);
      const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
      setenv("JOURNAL_STREAM", stream.c_str(), 1);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test must not leave peers running
    setpgid(0, 0);  // its own group, so that a test's Ctrl-C does not reach it twice
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
}

Subprocess::~Subprocess() {
  if (running()) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void Subprocess::Signal(int signo) {
  if (!exit_status_) kill(pid_, signo);
}

bool Subprocess::running() {
  if (exit_status_) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = DecodeWaitStatus(status);
    return false;
  }
  return true;
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_status_;
}

std::string Subprocess::Stdout() const { return ReadFile(dir_ + "/stdout"); }
std::string Subprocess::Stderr() const { return ReadFile(dir_ + "/stderr"); }

bool Subprocess::WaitForOutput(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (Stdout().find(needle) != std::string::npos) return true;
    if (Stderr().find(needle) != std::string::npos) return true;
    if (!running() || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

CommandResult RunCommand(const SubprocessOptions& options, std::chrono::milliseconds timeout) {
  Subprocess child(options);
  CommandResult result;
  if (std::optional<int> status = child.Wait(timeout)) result.exit_code = *status;
  result.out = child.Stdout();
  result.err = child.Stderr();
  return result;
}

}  // namespace edge::testing
