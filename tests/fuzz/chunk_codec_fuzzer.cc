// libFuzzer target for the sample chunk codec (storage/chunk_codec.h), the other thing besides
// the outbox that the agent reads back from disk. Every input is used twice:
//   1. as a chunk blob read from a damaged samples.db: DecodeChunk must never read past its end
//      (the input is an exact-size heap buffer under ASan) and must say DataLoss with a message
//      or succeed; what it decodes, encoded again and decoded, gives exactly the same samples
//      (every decoded delta is below 2^62, so the encoder can always represent it);
//   2. as a list of samples (timestamps in years 0..9999, the encoder's documented domain; any
//      64-bit value pattern, NaN payloads included; either quality), encoded in two parts the
//      way an open chunk grows across commits (a second encoder continuing from the first's last
//      timestamp), decoded, and compared bit for bit with what went in.
// A difference aborts: both are checks that fail if the codec loses or alters a sample.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "storage/chunk_codec.h"

namespace {

using edge::Quality;
using edge::Sample;
using edge::TagId;
using edge::storage::ChunkEncoder;
using edge::storage::DecodeChunk;
using edge::storage::FromMicros;
using edge::storage::ToMicros;

// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in microseconds since the epoch.
constexpr int64_t kMinTsUs = -62167219200LL * 1000000;
constexpr int64_t kMaxTsUs = 253402300799LL * 1000000 + 999999;

bool SameSample(const Sample& a, const Sample& b) {
  return a.tag == b.tag && a.ts == b.ts && a.quality == b.quality &&
         std::memcmp(&a.value, &b.value, sizeof a.value) == 0;
}

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "chunk_codec_fuzzer: %s\n", what);
    std::abort();
  }
}

void RequireSame(const std::vector<Sample>& got, const std::vector<Sample>& want,
                 const char* what) {
  Require(got.size() == want.size(), what);
  for (size_t i = 0; i < got.size(); ++i) Require(SameSample(got[i], want[i]), what);
}

void DecodeArbitraryBlob(std::span<const uint8_t> blob) {
  constexpr TagId kTag = 7;
  std::vector<Sample> decoded = {Sample{1, {}, 0.5, Quality::kGood}};  // appended to, not cleared
  const edge::Status s = DecodeChunk(blob, kTag, decoded);
  Require(decoded.front().tag == 1 && decoded.front().value == 0.5, "DecodeChunk cleared `out`");
  decoded.erase(decoded.begin());
  if (!s.ok()) {
    Require(s.code() == edge::StatusCode::kDataLoss && !s.message().empty(),
            "a malformed chunk is not DataLoss with a message");
    return;
  }
  // Each sample costs at least 1 + 8 bytes.
  Require(decoded.size() * 9 <= blob.size(), "more samples than the blob can hold");
  for (const Sample& x : decoded) Require(x.tag == kTag, "decoded sample has the wrong tag");
  std::vector<uint8_t> again;
  ChunkEncoder encoder;
  for (const Sample& x : decoded) encoder.Append(x, again);
  Require(again.size() <= blob.size(), "canonical encoding longer than the input");
  std::vector<Sample> redecoded;
  Require(DecodeChunk(again, kTag, redecoded).ok(), "re-encoded chunk does not decode");
  RequireSame(redecoded, decoded, "decode(encode(decode(blob))) != decode(blob)");
}

void RoundTripSamples(FuzzedDataProvider& in) {
  constexpr TagId kTag = 42;
  std::vector<Sample> samples;
  const bool regular = in.ConsumeBool();  // a PLC-like cadence, or any times at all
  const size_t split_at = in.ConsumeIntegral<uint8_t>();
  int64_t ts = in.ConsumeIntegralInRange<int64_t>(kMinTsUs, kMaxTsUs);
  while (in.remaining_bytes() > 0 && samples.size() < 4096) {
    if (regular) {
      ts += in.ConsumeIntegralInRange<int64_t>(-1000, 1000000);
      if (ts < kMinTsUs || ts > kMaxTsUs) break;
    } else {
      ts = in.ConsumeIntegralInRange<int64_t>(kMinTsUs, kMaxTsUs);
    }
    Sample s;
    s.tag = kTag;
    s.ts = FromMicros(ts);
    const uint64_t bits = in.ConsumeIntegral<uint64_t>();
    std::memcpy(&s.value, &bits, sizeof bits);
    s.quality = in.ConsumeBool() ? Quality::kBad : Quality::kGood;
    samples.push_back(s);
  }
  // An open chunk grows across commits: the second half continues the first's blob.
  const size_t split = std::min(split_at, samples.size());
  std::vector<uint8_t> blob;
  ChunkEncoder first;
  for (size_t i = 0; i < split; ++i) first.Append(samples[i], blob);
  ChunkEncoder second(first.last_ts_us());
  for (size_t i = split; i < samples.size(); ++i) second.Append(samples[i], blob);
  Require(blob.size() <= samples.size() * edge::storage::kMaxEncodedSampleBytes,
          "a sample took more than kMaxEncodedSampleBytes");
  if (!samples.empty()) {
    Require(second.last_ts_us() == ToMicros(samples.back().ts), "encoder lost the last time");
  }
  std::vector<Sample> decoded;
  Require(DecodeChunk(blob, kTag, decoded).ok(), "an encoded chunk does not decode");
  RequireSame(decoded, samples, "decode(encode(samples)) != samples");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DecodeArbitraryBlob(std::span<const uint8_t>(data, size));
  FuzzedDataProvider in(data, size);
  RoundTripSamples(in);
  return 0;
}
