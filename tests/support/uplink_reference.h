// The telemetry uplink as its consumer sees it (DESIGN §10), for the end-to-end tests of
// tests/integration/uplink_e2e_test.cc: what a stream must send of a tag's stored readings,
// computed the plain way straight from DESIGN §10's "Semantics" paragraph (and the points
// uplink-design settles: a change of quality is always sent, the percent band is percent of
// |last sent value|), and what a stream did send, decoded from the messages a subscriber
// received in `json` or `influx` encoding. The reference shares no code with uplink/: it is the
// second implementation the agent's output is checked against.
//
// Thread-safety: functions of their arguments only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/export_reader.h"
#include "tests/support/mqtt_collector.h"

namespace edge::testing {

struct RefReading {
  int64_t t_us = 0;
  std::optional<double> v;  // nullopt: bad quality (JSON null, influx bad=true)
  bool operator==(const RefReading&) const = default;
};

struct RefAggregate {  // one period of one tag
  int64_t t_us = 0;    // period start
  double min = 0, max = 0, mean = 0, last = 0;
  uint64_t count = 0;
};

// The stored readings of `tag` in `csv` (edge-agent export), in the order they were stored.
std::vector<RefReading> ReadingsOf(const ExportedCsv& csv, const std::string& tag);

struct DeadbandSpec {
  double band = 0;
  bool percent = false;
  int64_t max_interval_us = 0;  // 0: none
};
// The readings a deadband stream sends of one tag.
std::vector<RefReading> DeadbandReference(const std::vector<RefReading>& stored,
                                          const DeadbandSpec& spec);

// The periods an aggregate stream sends of one tag once it has been fed `stored`, with the wall
// clock at `now_us` (a period also closes when now_us is max(period, 5 s) past its end).
// *late: readings that came for a period already closed.
std::vector<RefAggregate> AggregateReference(const std::vector<RefReading>& stored,
                                             int64_t period_us, int64_t now_us, int* late);

// What one stream sent, decoded from the messages on exactly `topic`.
struct ReceivedStream {
  size_t messages = 0;  // distinct seqs
  size_t repeats = 0;   // messages whose seq came before (sent again after a fault)
  // Per tag, in seq order, as many as the messages carried.
  std::map<std::string, std::vector<RefReading>> readings;
  std::map<std::string, std::vector<RefAggregate>> aggregates;
  // Faults of the stream itself: a repeated seq with another payload, a new seq below one seen
  // before, a payload that does not decode, a gateway or stream field that is wrong.
  std::vector<std::string> faults;

  size_t ReadingCount() const;
  size_t AggregateCount() const;
};

// `json` messages (DESIGN §10); `stream` is the expected "stream" field.
ReceivedStream DecodeJsonStream(const std::vector<MqttCollector::Message>& messages,
                                const std::string& topic, const std::string& gateway,
                                const std::string& stream);
// `influx` messages (InfluxDB line protocol, measurement "edge"). Influx carries no seq: each
// message counts as a new one and `repeats` stays 0.
ReceivedStream DecodeInfluxStream(const std::vector<MqttCollector::Message>& messages,
                                  const std::string& topic, const std::string& gateway);

// "" when `got` equals `want` exactly (times, quality and values), otherwise the first
// difference, for a test failure message.
std::string CompareReadings(const std::vector<RefReading>& want,
                            const std::vector<RefReading>& got);
// Likewise for aggregates; the mean may differ from sum / count in its last bits only.
std::string CompareAggregates(const std::vector<RefAggregate>& want,
                              const std::vector<RefAggregate>& got);

}  // namespace edge::testing
