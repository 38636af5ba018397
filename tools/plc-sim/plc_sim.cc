// plc-sim: a Modbus TCP server (libmodbus) that stands in for a PLC in tests, benchmarks and
// demos. It serves a register map (tools/plc-sim/sim_map.h), optionally replays a CSV of values
// over time, and has hooks that make it misbehave the way real PLCs do.
//
//   plc-sim --map FILE [--port N] [--bind ADDR] [--port-file F]
//           [--replay CSV [--step 1s] [--speed X] [--loop]]
//           [--delay-ms N] [--exception-at ADDR]... [--exception-code N] [--garble-at ADDR]...
//
// --port 0 (the default) binds an ephemeral port. Once listening, it prints
// "plc-sim listening on ADDR:PORT" on stdout and, with --port-file, writes PORT to that file
// (written to a temporary name and renamed, so a reader never sees half a number).
// Every table covers addresses 0..65535 (unmapped addresses read as 0); any unit id is answered.
// --delay-ms N waits N ms before every reply (a slow PLC); --exception-at ADDR answers every
// read (FC 1-4) whose range contains ADDR with exception --exception-code (default 2, illegal
// data address). --garble-at ADDR answers such reads with a well-formed frame whose byte count
// is one less than asked for (a client must reject it: libmodbus says EMBBADDATA). To make it
// stop answering altogether, send it SIGSTOP (and SIGCONT).
// Writes from clients (FC 5, 6, 15, 16) change the map.
//
// One thread: a pselect() loop over the listening socket and every client connection (requests
// are served one at a time, as a PLC's communication task does). SIGTERM / SIGINT are blocked
// except inside pselect(), whose handler only sets a flag; the loop then closes every socket and
// exits 0. Exit 2 on bad usage or a bad map / replay file, 1 if the port cannot be bound.
#include <arpa/inet.h>
#include <errno.h>
#include <fmt/format.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "config/units.h"
#include "tools/plc-sim/sim_map.h"

namespace edge::plcsim {
namespace {

using Steady = std::chrono::steady_clock;

volatile sig_atomic_t g_stop = 0;

void OnStopSignal(int) { g_stop = 1; }

struct Options {
  std::string map_path;
  int port = 0;
  std::string bind = "127.0.0.1";
  std::string port_file;
  std::string replay_path;
  std::string step = "1s";
  double speed = 1.0;
  bool loop = false;
  int delay_ms = 0;
  std::vector<int> exception_at;
  int exception_code = MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS;
  std::vector<int> garble_at;
};

Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) return Status::IoError(fmt::format("{}: cannot write", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);  // atomic: a reader sees no file or the whole number
  if (ec) return Status::IoError(fmt::format("{}: {}", path, ec.message()));
  return Status::Ok();
}

// True if `query` is a read (FC 1-4) whose address range contains one of `addresses`.
bool TouchesAddress(const uint8_t* query, int header_length, const std::vector<int>& addresses) {
  const uint8_t function = query[header_length];
  if (function < MODBUS_FC_READ_COILS || function > MODBUS_FC_READ_INPUT_REGISTERS) return false;
  const int start = query[header_length + 1] << 8 | query[header_length + 2];
  const int count = query[header_length + 3] << 8 | query[header_length + 4];
  return std::any_of(addresses.begin(), addresses.end(),
                     [&](int a) { return a >= start && a < start + count; });
}

class Server {
 public:
  Server(const Options& options, std::vector<SimTag> map, std::vector<ReplayRow> replay,
         std::chrono::nanoseconds step)
      : options_(options), map_(std::move(map)), replay_(std::move(replay)), step_(step) {}

  ~Server() {
    for (const int fd : clients_) close(fd);
    if (listen_fd_ >= 0) close(listen_fd_);
    if (ctx_ != nullptr) {
      modbus_set_socket(ctx_, -1);  // the sockets are closed above
      modbus_free(ctx_);
    }
    if (mapping_ != nullptr) modbus_mapping_free(mapping_);
  }

  int Run() {
    mapping_ = modbus_mapping_new_start_address(0, 65536, 0, 65536, 0, 65536, 0, 65536);
    if (mapping_ == nullptr) return Fail(1, "cannot allocate the register map");
    for (const SimTag& t : map_) {
      if (Status s = Store(*mapping_, t.tag, t.value, t.text); !s.ok()) {
        return Fail(2, s.message());
      }
    }
    ctx_ = modbus_new_tcp(options_.bind.c_str(), options_.port);
    if (ctx_ == nullptr) return Fail(2, fmt::format("bad --bind '{}'", options_.bind));
    listen_fd_ = modbus_tcp_listen(ctx_, 64);
    if (listen_fd_ < 0) {
      return Fail(1, fmt::format("cannot listen on {}:{}: {}", options_.bind, options_.port,
                                 modbus_strerror(errno)));
    }
    sockaddr_in bound{};
    socklen_t len = sizeof(bound);
    if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
      return Fail(1, fmt::format("getsockname: {}", std::strerror(errno)));
    }
    const int port = ntohs(bound.sin_port);
    if (!options_.port_file.empty()) {
      if (Status s = WritePortFile(options_.port_file, port); !s.ok()) return Fail(1, s.message());
    }
    std::printf("plc-sim listening on %s:%d\n", options_.bind.c_str(), port);
    std::fflush(stdout);

    sigset_t blocked, unblocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked, &unblocked);
    sigdelset(&unblocked, SIGTERM);
    sigdelset(&unblocked, SIGINT);

    Steady::time_point next_step = Steady::now();
    size_t row = 0;
    bool replaying = !replay_.empty();
    while (!g_stop) {
      if (replaying && Steady::now() >= next_step) {
        ApplyRow(replay_[row]);
        ++row;
        if (row == replay_.size()) {
          row = 0;
          replaying = options_.loop;
        }
        next_step += step_;
      }
      fd_set readable;
      FD_ZERO(&readable);
      FD_SET(listen_fd_, &readable);
      int max_fd = listen_fd_;
      for (const int fd : clients_) {
        FD_SET(fd, &readable);
        max_fd = std::max(max_fd, fd);
      }
      timespec timeout{};
      timespec* timeout_ptr = nullptr;
      if (replaying) {
        const auto wait = std::max(Steady::duration::zero(), next_step - Steady::now());
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
        timeout.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        timeout.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        timeout_ptr = &timeout;
      }
      const int ready = pselect(max_fd + 1, &readable, nullptr, nullptr, timeout_ptr, &unblocked);
      if (ready < 0) {
        if (errno == EINTR) continue;
        return Fail(1, fmt::format("select: {}", std::strerror(errno)));
      }
      if (FD_ISSET(listen_fd_, &readable)) Accept();
      // Serve a copy of the list: Serve() may drop a client.
      const std::vector<int> clients = clients_;
      for (const int fd : clients) {
        if (FD_ISSET(fd, &readable)) Serve(fd);
      }
    }
    std::fprintf(stderr, "plc-sim: stopping; served %llu requests on %llu connections\n",
                 static_cast<unsigned long long>(requests_),
                 static_cast<unsigned long long>(connections_));
    return 0;
  }

 private:
  int Fail(int code, const std::string& message) {
    std::fprintf(stderr, "plc-sim: %s\n", message.c_str());
    return code;
  }

  void ApplyRow(const ReplayRow& row) {
    for (const ReplayCell& cell : row) {
      // LoadReplay checked that every value fits, so this cannot fail.
      if (Status s = Store(*mapping_, map_[cell.tag].tag, cell.value, cell.text); !s.ok()) {
        std::fprintf(stderr, "plc-sim: %s\n", s.message().c_str());
      }
    }
  }

  void Accept() {
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    const int fd = accept(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len);
    if (fd < 0) return;  // the peer went away already, or out of descriptors: keep serving
    if (fd >= FD_SETSIZE) {
      close(fd);
      return;
    }
    clients_.push_back(fd);
    ++connections_;
  }

  void Serve(int fd) {
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    modbus_set_socket(ctx_, fd);
    const int length = modbus_receive(ctx_, query);
    if (length < 0) {  // closed by the peer, or a broken frame: drop the connection
      close(fd);
      clients_.erase(std::find(clients_.begin(), clients_.end(), fd));
      return;
    }
    if (length == 0) return;  // a request for another unit (RTU only)
    ++requests_;
    if (options_.delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.delay_ms));
    }
    const int header_length = modbus_get_header_length(ctx_);
    if (!options_.exception_at.empty() &&
        TouchesAddress(query, header_length, options_.exception_at)) {
      modbus_reply_exception(ctx_, query, static_cast<unsigned>(options_.exception_code));
      return;
    }
    if (!options_.garble_at.empty() && TouchesAddress(query, header_length, options_.garble_at)) {
      SendShortAnswer(fd, query, header_length);
      return;
    }
    modbus_reply(ctx_, query, length, mapping_);
  }

  // A read response (MBAP header, function, byte count, zero data) whose byte count is one
  // less than the request asks for.
  static void SendShortAnswer(int fd, const uint8_t* query, int header_length) {
    const uint8_t function = query[header_length];
    const int count = query[header_length + 3] << 8 | query[header_length + 4];
    const bool bits = function <= MODBUS_FC_READ_DISCRETE_INPUTS;
    const int bytes = std::max(0, (bits ? (count + 7) / 8 : 2 * count) - 1);
    uint8_t frame[MODBUS_TCP_MAX_ADU_LENGTH] = {};
    frame[0] = query[0];  // transaction id
    frame[1] = query[1];
    frame[4] = static_cast<uint8_t>((3 + bytes) >> 8);  // length: unit, function, count, data
    frame[5] = static_cast<uint8_t>(3 + bytes);
    frame[6] = query[6];  // unit id
    frame[7] = function;
    frame[8] = static_cast<uint8_t>(bytes);
    const auto size = static_cast<size_t>(9 + bytes);
    if (send(fd, frame, size, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) {
      std::fprintf(stderr, "plc-sim: short answer not sent: %s\n", std::strerror(errno));
    }
  }

  const Options& options_;
  std::vector<SimTag> map_;
  std::vector<ReplayRow> replay_;
  const std::chrono::nanoseconds step_;
  modbus_mapping_t* mapping_ = nullptr;
  modbus_t* ctx_ = nullptr;
  int listen_fd_ = -1;
  std::vector<int> clients_;
  unsigned long long requests_ = 0;
  unsigned long long connections_ = 0;
};

int Main(int argc, char** argv) {
  Options options;
  CLI::App app{"plc-sim: a Modbus TCP server that simulates a PLC for tests and demos"};
  app.add_option("--map", options.map_path, "register map (YAML, or CSV by extension)")->required();
  app.add_option("--port", options.port, "TCP port; 0 picks a free one")
      ->check(CLI::Range(0, 65535));
  app.add_option("--bind", options.bind, "address to listen on")->capture_default_str();
  app.add_option("--port-file", options.port_file, "write the bound port to this file");
  app.add_option("--replay", options.replay_path, "CSV of values to replay, one row per step");
  app.add_option("--step", options.step, "time between replay rows, e.g. 250ms")
      ->capture_default_str();
  app.add_option("--speed", options.speed, "replay speed multiplier")->check(CLI::PositiveNumber);
  app.add_flag("--loop", options.loop, "restart the replay at its end");
  app.add_option("--delay-ms", options.delay_ms, "wait this long before every reply")
      ->check(CLI::Range(0, 600000));
  app.add_option("--exception-at", options.exception_at,
                 "answer reads that touch this address with an exception (repeatable)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--exception-code", options.exception_code, "the exception code to answer")
      ->check(CLI::Range(1, 255));
  app.add_option("--garble-at", options.garble_at,
                 "answer reads that touch this address with a wrong byte count (repeatable)")
      ->check(CLI::Range(0, 65535));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  StatusOr<std::vector<SimTag>> map = LoadMap(options.map_path);
  if (!map.ok()) {
    std::fprintf(stderr, "plc-sim: %s\n", map.status().message().c_str());
    return 2;
  }
  std::vector<ReplayRow> replay;
  StatusOr<std::chrono::milliseconds> step = config::ParseDuration(options.step);
  if (!step.ok() || step->count() == 0) {
    std::fprintf(stderr, "plc-sim: --step: %s\n",
                 step.ok() ? "must be positive" : step.status().message().c_str());
    return 2;
  }
  if (!options.replay_path.empty()) {
    StatusOr<std::vector<ReplayRow>> rows = LoadReplay(options.replay_path, *map);
    if (!rows.ok()) {
      std::fprintf(stderr, "plc-sim: %s\n", rows.status().message().c_str());
      return 2;
    }
    replay = std::move(*rows);
  }
  const auto step_ns = std::chrono::nanoseconds(static_cast<int64_t>(
      static_cast<double>(std::chrono::nanoseconds(*step).count()) / options.speed));

  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that vanished mid-reply is an EPIPE, not a crash

  Server server(options, std::move(*map), std::move(replay),
                std::max(step_ns, std::chrono::nanoseconds(1)));
  return server.Run();
}

}  // namespace
}  // namespace edge::plcsim

int main(int argc, char** argv) { return edge::plcsim::Main(argc, argv); }
