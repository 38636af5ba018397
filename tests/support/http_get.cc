#include "tests/support/http_get.h"

#include <httplib.h>

namespace edge::testing {

HttpReply HttpGet(int port, const std::string& path, std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  const httplib::Result result = client.Get(path);
  HttpReply reply;
  reply.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result) {
    reply.status = result->status;
    reply.body = result->body;
  }
  return reply;
}

}  // namespace edge::testing
