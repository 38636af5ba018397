// Chunk encoding: how one tag's samples are packed into the `data` BLOB of a chunk row
// (storage/sample_db.h explains why samples are stored in per-tag chunks).
//
// Layout of a chunk blob, samples in the order they were written (normally time order):
//   per sample:  varint  (zigzag(ts_us - prev_ts_us) << 1) | bad_quality_bit
//                8 bytes value, IEEE-754 double, little endian
// prev_ts_us is 0 for the first sample, so the first delta is the absolute time. A sample
// with a regular 100 ms cadence costs 3 + 8 = 11 bytes instead of 32 in memory.
// Varints are LEB128: 7 bits per byte, low group first, high bit set on all but the last.
//
// Thread-safety: pure functions and a plain value type.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/sample.h"
#include "core/status.h"

namespace edge::storage {

// Appends samples to a chunk blob; remembers the previous timestamp between appends so that an
// open chunk can grow across commits.
class ChunkEncoder {
 public:
  ChunkEncoder() = default;
  // Continues a chunk whose last sample had time `last_ts_us` (0 for a new chunk).
  explicit ChunkEncoder(int64_t last_ts_us) : prev_ts_us_(last_ts_us) {}

  void Append(const Sample& s, std::vector<uint8_t>& out);
  int64_t last_ts_us() const { return prev_ts_us_; }

 private:
  int64_t prev_ts_us_ = 0;
};

// Decodes `blob` and appends samples with tag `tag` to `out`. DataLoss if the blob is
// truncated or malformed (never reads past its end).
[[nodiscard]] Status DecodeChunk(std::span<const uint8_t> blob, TagId tag,
                                 std::vector<Sample>& out);

// Worst-case encoded size of one sample (10-byte varint + 8-byte value).
constexpr size_t kMaxEncodedSampleBytes = 18;

inline int64_t ToMicros(Timestamp ts) { return ts.time_since_epoch().count(); }
inline Timestamp FromMicros(int64_t us) { return Timestamp(std::chrono::microseconds(us)); }

}  // namespace edge::storage
