// MqttJournal on real files in a scratch directory: what is appended comes back from the next
// run's Replay in order (arrival time, topic, payload); a torn or zeroed tail ends the replay
// without an error; generations older than `keep` go at a rotation and the replayed ones only
// then; Clear() leaves nothing; a source name cannot leave the directory.
#include "drivers/mqtt_journal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>

#include "tests/support/test_files.h"

namespace edge::drivers {
namespace {

namespace fs = std::filesystem;
using edge::testing::ScratchDir;
using std::chrono::milliseconds;

using Message = std::tuple<int64_t, std::string, std::string>;  // arrival µs, topic, payload

Timestamp Us(int64_t us) { return Timestamp(std::chrono::microseconds(us)); }

std::vector<Message> ReplayAll(MqttJournal& j) {
  std::vector<Message> out;
  EXPECT_TRUE(j.Replay([&](Timestamp t, std::string_view topic, std::string_view payload) {
                 out.emplace_back(t.time_since_epoch().count(), topic, payload);
               }).ok());
  return out;
}

size_t FilesIn(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(MqttJournal, WhatOneRunAppendsTheNextReplaysInOrder) {
  ScratchDir dir;
  const std::string path = (dir.path() / "journal").string();
  {
    auto j = MqttJournal::Open(path, "vib", {}).value();
    EXPECT_TRUE(ReplayAll(*j).empty());
    j->Append(Us(1'000'001), "a/b", R"({"v": 1})");
    j->Append(Us(1'000'002), "a/c", "");
    j->Append(Us(1'000'003), "a/d", std::string("\0\xff", 2));
    EXPECT_EQ(j->stats().appended, 3u);
  }  // a crash: nothing cleared
  auto j = MqttJournal::Open(path, "vib", {}).value();
  const std::vector<Message> got = ReplayAll(*j);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], Message(1'000'001, "a/b", R"({"v": 1})"));
  EXPECT_EQ(got[1], Message(1'000'002, "a/c", ""));
  EXPECT_EQ(got[2], Message(1'000'003, "a/d", std::string("\0\xff", 2)));
  EXPECT_EQ(j->stats().replayed, 3u);
  // Another source's journal in the same directory is not this one's.
  auto other = MqttJournal::Open(path, "vi", {}).value();
  EXPECT_TRUE(ReplayAll(*other).empty());
}

TEST(MqttJournal, ATornOrZeroedTailEndsTheReplay) {
  ScratchDir dir;
  const std::string path = (dir.path() / "journal").string();
  {
    auto j = MqttJournal::Open(path, "s", {}).value();
    (void)ReplayAll(*j);
    j->Append(Us(5), "t", "1.5");
    j->Append(Us(6), "t", "2.5");
  }
  const fs::path file = fs::path(path) / "source-s.1.journal";
  ASSERT_TRUE(fs::exists(file));
  fs::resize_file(file, fs::file_size(file) - 2);  // the second record torn
  {
    std::ofstream(file, std::ios::app | std::ios::binary) << std::string(64, '\0');  // zeros
  }
  auto j = MqttJournal::Open(path, "s", {}).value();
  const std::vector<Message> got = ReplayAll(*j);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], Message(5, "t", "1.5"));
}

TEST(MqttJournal, RotationKeepsEveryMessageForKeepAndClearDeletesAll) {
  ScratchDir dir;
  const std::string path = (dir.path() / "journal").string();
  MqttJournal::Options o;
  o.keep = milliseconds(100);
  {
    auto j = MqttJournal::Open(path, "s", o).value();
    (void)ReplayAll(*j);
    j->Append(Us(1), "t", "1");
  }
  auto j = MqttJournal::Open(path, "s", o).value();
  ASSERT_EQ(ReplayAll(*j).size(), 1u);
  j->Append(Us(2), "t", "2");
  EXPECT_EQ(FilesIn(path), 2u) << "the replayed generation stays until a rotation";
  std::this_thread::sleep_for(milliseconds(120));
  j->Append(Us(3), "t", "3");  // rotates: the replayed generation is older than keep
  EXPECT_EQ(FilesIn(path), 2u);
  std::this_thread::sleep_for(milliseconds(120));
  j->Append(Us(4), "t", "4");
  {
    auto again = MqttJournal::Open(path, "s", o).value();
    std::vector<Message> got = ReplayAll(*again);
    ASSERT_EQ(got.size(), 2u) << "messages 3 and 4: written less than two keeps ago";
    EXPECT_EQ(std::get<0>(got[0]), 3);
    EXPECT_EQ(std::get<0>(got[1]), 4);
    again->Clear();
  }
  j->Clear();
  EXPECT_EQ(FilesIn(path), 0u);
}

TEST(MqttJournal, ASourceNameCannotLeaveTheDirectory) {
  ScratchDir dir;
  const std::string path = (dir.path() / "journal").string();
  EXPECT_FALSE(MqttJournal::Open(path, "../x", {}).ok());
  EXPECT_FALSE(MqttJournal::Open(path, "", {}).ok());
  auto dots = MqttJournal::Open(path, "..", {}).value();
  (void)ReplayAll(*dots);
  dots->Append(Us(1), "t", "1");
  EXPECT_TRUE(fs::exists(fs::path(path) / "source-...1.journal"));
}

}  // namespace
}  // namespace edge::drivers
