// InfluxDb: a real InfluxDB 1.x server (Debian's `influxdb` package, /usr/bin/influxd) for the
// tests of the telemetry uplink's `influx` encoding. It runs in a scratch directory on free
// loopback ports, with reporting, monitoring and query logging off, and has one database,
// "edge", ready when ok() is true. The destructor stops it.
//
// Thread-safety: one owner thread.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {

class InfluxDb {
 public:
  InfluxDb();
  ~InfluxDb();
  InfluxDb(const InfluxDb&) = delete;
  InfluxDb& operator=(const InfluxDb&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  int port() const { return port_; }

  // POST /write?db=edge&precision=ns with `lines` (line protocol). "" or what failed (InfluxDB's
  // own error text for a line it refused).
  std::string Write(const std::string& lines);
  // GET /query?db=edge&epoch=ns; the parsed answer, or a null json with *error set.
  nlohmann::json Query(const std::string& q, std::string* error);

 private:
  ScratchDir dir_;
  int port_ = 0;
  std::string error_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace edge::testing
