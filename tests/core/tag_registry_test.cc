#include "core/tag_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace edge {
namespace {

TEST(TagRegistry, AssignsDenseIdsInOrder) {
  TagRegistry reg;
  EXPECT_TRUE(reg.empty());
  EXPECT_EQ(*reg.Add("pump1.pressure"), 0u);
  EXPECT_EQ(*reg.Add("pump1.current"), 1u);
  EXPECT_EQ(*reg.Add("pump1.vib_rms"), 2u);
  EXPECT_EQ(reg.size(), 3u);

  EXPECT_EQ(reg.Find("pump1.current"), 1u);
  EXPECT_EQ(reg.Name(2), "pump1.vib_rms");
  EXPECT_EQ(reg.Find("pump2.current"), std::nullopt);
}

TEST(TagRegistry, AddRefusesDuplicatesAndEmptyNames) {
  TagRegistry reg;
  ASSERT_TRUE(reg.Add("pump1.pressure").ok());
  auto dup = reg.Add("pump1.pressure");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(dup.status().message().find("pump1.pressure"), std::string::npos);

  auto empty = reg.Add("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.size(), 1u);
}

TEST(TagRegistry, InternReturnsTheExistingId) {
  TagRegistry reg;
  const TagId a = reg.Intern("a");
  const TagId b = reg.Intern("b");
  EXPECT_NE(a, b);
  EXPECT_EQ(reg.Intern("a"), a);
  EXPECT_EQ(reg.size(), 2u);
}

TEST(TagRegistry, NamesStayValidAsTheRegistryGrows) {
  TagRegistry reg;
  reg.Intern("x");  // short: lives in the string's inline buffer, the case that moves
  const std::string_view first = reg.Name(0);
  for (int i = 0; i < 5000; ++i) reg.Intern("tag" + std::to_string(i));
  EXPECT_EQ(first, "x");
  EXPECT_EQ(first.data(), reg.Name(0).data());
  EXPECT_EQ(reg.Find("tag4999"), 5000u);
}

TEST(TagRegistry, KeepsNamesWhenMoved) {
  TagRegistry reg;
  reg.Intern("a");
  reg.Intern("b");
  TagRegistry moved = std::move(reg);
  EXPECT_EQ(moved.Find("b"), 1u);
  EXPECT_EQ(moved.Name(0), "a");
}

TEST(TagRegistry, ConcurrentLookupsAfterLoad) {
  TagRegistry reg;
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(reg.Add("line3.tag" + std::to_string(i)).ok());
  std::vector<std::thread> readers;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&reg, &mismatches, t] {
      for (int round = 0; round < 200; ++round) {
        for (TagId id = 0; id < 200; ++id) {
          if (reg.Find(reg.Name(id)) != id) ++mismatches[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (auto& r : readers) r.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// MQTT callbacks intern names while the writer and a model swap read the registry (the race of
// tests/integration/hot_swap_race_test.cc): the registry's own lock makes that safe, and TSan
// (scripts/test.sh) checks it.
TEST(TagRegistry, InternsFromSeveralThreadsWhileOthersRead) {
  TagRegistry reg;
  ASSERT_TRUE(reg.Add("pump1.pressure").ok());
  constexpr int kWriters = 3;
  constexpr int kNames = 2000;
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&reg, w] {
      for (int i = 0; i < kNames; ++i)
        reg.Intern("m" + std::to_string(w) + "." + std::to_string(i));
    });
  }
  std::thread reader([&] {
    while (!done) {
      const size_t n = reg.size();
      if (reg.Find("pump1.pressure") != 0u) ++bad_reads;
      const auto last = static_cast<TagId>(n - 1);
      if (reg.Find(reg.Name(last)) != last) ++bad_reads;
    }
  });
  for (auto& t : threads) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(bad_reads, 0);
  EXPECT_EQ(reg.size(), 1u + kWriters * kNames);
  for (TagId id = 0; id < reg.size(); ++id) EXPECT_EQ(reg.Find(reg.Name(id)), id);
}

TEST(TagRegistryDeathTest, NameOfUnknownIdAborts) {
  TagRegistry reg;
  reg.Intern("a");
  EXPECT_DEATH((void)reg.Name(1), "check failed");
}

}  // namespace
}  // namespace edge
