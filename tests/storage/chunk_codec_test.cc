#include "storage/chunk_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tests/support/storage_test_util.h"

namespace edge::storage {
namespace {

using testing::At;

TEST(ChunkCodec, RoundTripsTimesValuesAndQuality) {
  std::vector<Sample> in = {
      {7, At(0), 1.5, Quality::kGood},
      {7, At(100000), -2.25, Quality::kBad},
      {7, At(99999), std::numeric_limits<double>::max(), Quality::kGood},  // back in time
      {7, At(200000), std::numeric_limits<double>::quiet_NaN(), Quality::kBad},
      {7, Timestamp(std::chrono::microseconds(-5)), 0.0, Quality::kGood},  // before 1970
  };
  std::vector<uint8_t> blob;
  ChunkEncoder encoder;
  for (const Sample& s : in) encoder.Append(s, blob);
  std::vector<Sample> out;
  ASSERT_TRUE(DecodeChunk(blob, 3, out).ok());
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].tag, 3u);
    EXPECT_EQ(out[i].ts, in[i].ts) << i;
    EXPECT_EQ(out[i].quality, in[i].quality) << i;
    if (std::isnan(in[i].value)) {
      EXPECT_TRUE(std::isnan(out[i].value));
    } else {
      EXPECT_EQ(out[i].value, in[i].value) << i;
    }
  }
}

TEST(ChunkCodec, ContinuesAnOpenChunkAcrossEncoders) {
  std::vector<uint8_t> blob;
  ChunkEncoder first;
  first.Append({0, At(1000), 1.0, Quality::kGood}, blob);
  ChunkEncoder second(first.last_ts_us());
  second.Append({0, At(101000), 2.0, Quality::kGood}, blob);
  std::vector<Sample> out;
  ASSERT_TRUE(DecodeChunk(blob, 0, out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].ts, At(101000));
  EXPECT_EQ(out[1].value, 2.0);
}

TEST(ChunkCodec, RegularCadenceCostsElevenBytesPerSample) {
  std::vector<uint8_t> blob;
  ChunkEncoder encoder;
  encoder.Append({0, At(0), 0.0, Quality::kGood}, blob);
  const size_t first = blob.size();
  for (int i = 1; i <= 100; ++i) encoder.Append({0, At(i * 100000), 1.0 * i, Quality::kGood}, blob);
  EXPECT_EQ(blob.size() - first, 100u * 11u);
}

TEST(ChunkCodec, TruncatedBlobIsDataLossNotACrash) {
  std::vector<uint8_t> blob;
  ChunkEncoder encoder;
  encoder.Append({0, At(0), 1.0, Quality::kGood}, blob);
  const size_t one = blob.size();
  encoder.Append({0, At(5), 2.0, Quality::kGood}, blob);
  for (size_t cut = 1; cut < blob.size(); ++cut) {
    std::vector<uint8_t> part(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(cut));
    std::vector<Sample> out;
    const Status s = DecodeChunk(part, 0, out);
    if (cut == one) {
      EXPECT_TRUE(s.ok());  // exactly one whole sample
    } else {
      EXPECT_EQ(s.code(), StatusCode::kDataLoss) << "cut " << cut;
    }
  }
  std::vector<uint8_t> endless(12, 0xff);  // a varint that never ends
  std::vector<Sample> out;
  EXPECT_EQ(DecodeChunk(endless, 0, out).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace edge::storage
