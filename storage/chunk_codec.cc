#include "storage/chunk_codec.h"

#include <cstring>

namespace edge::storage {
namespace {

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

}  // namespace

void ChunkEncoder::Append(const Sample& s, std::vector<uint8_t>& out) {
  const int64_t ts = ToMicros(s.ts);
  // The delta is computed in unsigned arithmetic: wrap-around is well defined and undone by
  // the decoder's unsigned addition.
  const auto delta =
      static_cast<int64_t>(static_cast<uint64_t>(ts) - static_cast<uint64_t>(prev_ts_us_));
  prev_ts_us_ = ts;
  // The quality bit takes the low bit, so |delta| must stay below 2^62 us (146,000 years):
  // always true for timestamps in years 0..9999.
  uint64_t v = (ZigZag(delta) << 1) | (s.quality == Quality::kBad ? 1u : 0u);
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
  uint8_t bytes[8];
  std::memcpy(bytes, &s.value, 8);  // x86-64 and aarch64 are little endian
  out.insert(out.end(), bytes, bytes + 8);
}

Status DecodeChunk(std::span<const uint8_t> blob, TagId tag, std::vector<Sample>& out) {
  uint64_t prev = 0;
  size_t i = 0;
  while (i < blob.size()) {
    uint64_t v = 0;
    int shift = 0;
    for (;;) {
      if (i >= blob.size() || shift > 63) return Status::DataLoss("chunk: truncated varint");
      const uint8_t b = blob[i++];
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) break;
      shift += 7;
    }
    if (blob.size() - i < 8) return Status::DataLoss("chunk: truncated value");
    Sample s;
    s.tag = tag;
    s.quality = (v & 1) ? Quality::kBad : Quality::kGood;
    prev += static_cast<uint64_t>(UnZigZag(v >> 1));
    s.ts = FromMicros(static_cast<int64_t>(prev));
    std::memcpy(&s.value, blob.data() + i, 8);
    i += 8;
    out.push_back(s);
  }
  return Status::Ok();
}

}  // namespace edge::storage
