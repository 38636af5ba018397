// One HTTP GET to a server of the agent's (/metrics, /health) from a test, with cpp-httplib's
// client: the status (0 when no answer came within `timeout`), the body (error bodies too, such as
// /health's 503 document) and how long the answer took.
//
// Thread-safety: no shared state.
#pragma once

#include <chrono>
#include <string>

namespace edge::testing {

struct HttpReply {
  int status = 0;
  std::string body;
  double seconds = 0;
};

// `port` on 127.0.0.1; `path` starts with '/'.
HttpReply HttpGet(int port, const std::string& path,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace edge::testing
