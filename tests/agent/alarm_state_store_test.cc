// AlarmStateStore on a real data directory and outbox: the states survive a restart, the alarm
// history overrides the file, and a damaged file never stops the start.
#include "agent/alarm_state_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "agent/messages.h"
#include "core/state_file.h"
#include "storage/storage.h"
#include "tests/support/test_files.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;

class AlarmStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<storage::Storage>> opened =
        storage::Storage::Open(dir_.path().string(), config::StorageConfig{});
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    storage_ = std::move(*opened);
  }

  // An alarm of `asset` as the scoring stage queues it.
  void QueueAlarm(const std::string& asset, AlarmState state, double peak) {
    AlarmMessage m{.gateway = "gw",
                   .asset = asset,
                   .model = "m",
                   .model_version = "1.0.0",
                   .state = state,
                   .score = peak,
                   .peak_score = peak,
                   .threshold = 0.5};
    ASSERT_TRUE(storage_->outbox()
                    .AppendAlarm("p/gw/alarms/" + asset,
                                 [&m](uint64_t seq) {
                                   m.seq = seq;
                                   return AlarmPayload(m);
                                 })
                    .ok());
  }

  size_t DamagedFilesInDir() const {
    size_t n = 0;
    for (const fs::directory_entry& e : fs::directory_iterator(dir_.path())) {
      n += e.path().filename().string().rfind("alarm_state.json.damaged-", 0) == 0;
    }
    return n;
  }

  edge::testing::ScratchDir dir_;
  std::unique_ptr<storage::Storage> storage_;
  AlarmStateStore store_{dir_.path()};
};

TEST_F(AlarmStateStoreTest, NothingSavedAtFirst) {
  EXPECT_TRUE(store_.Load(storage_->outbox()).empty());
  EXPECT_EQ(store_.path(), dir_.path() / "alarm_state.json");
}

TEST_F(AlarmStateStoreTest, SavedStatesComeBack) {
  ASSERT_TRUE(
      store_.Save({{"pump1", {AlarmState::kRaised, 0.93}}, {"pump2", {AlarmState::kNormal, 0.0}}})
          .ok());
  const SavedAlarms saved = store_.Load(storage_->outbox());
  ASSERT_EQ(saved.size(), 2u);
  EXPECT_EQ(saved.at("pump1").state, AlarmState::kRaised);
  EXPECT_DOUBLE_EQ(saved.at("pump1").peak_score, 0.93);
  EXPECT_EQ(saved.at("pump2").state, AlarmState::kNormal);
}

TEST_F(AlarmStateStoreTest, TheAlarmHistoryOverridesTheFile) {
  // A clear queued just before a kill, before the file was rewritten: not raised again.
  ASSERT_TRUE(store_.Save({{"pump1", {AlarmState::kRaised, 0.93}}}).ok());
  QueueAlarm("pump1", AlarmState::kNormal, 0.0);
  QueueAlarm("pump3", AlarmState::kRaised, 0.8);
  const SavedAlarms saved = store_.Load(storage_->outbox());
  EXPECT_EQ(saved.at("pump1").state, AlarmState::kNormal);
  EXPECT_EQ(saved.at("pump3").state, AlarmState::kRaised);
  EXPECT_DOUBLE_EQ(saved.at("pump3").peak_score, 0.8);
}

TEST_F(AlarmStateStoreTest, ADamagedFileIsMovedAsideCountedAndTheHistoryStillApplies) {
  // Each of these stopped the service at every start, or was silently half-read.
  for (const char* text : {
           R"({"pump1": {"state": "raised", "peak_score": "high"}})",  // value() threw here
           R"({"pump1": {"state": 1}})",
           R"({"pump1": {"state": "on fire"}})",
           R"({"pump1": "raised"})",
           R"(["pump1"])",
           "{\"pump1\": {\"sta",
           "",
       }) {
    SCOPED_TRACE(text);
    dir_.Write("alarm_state.json", text);
    const uint64_t before = DamagedStateFiles();
    const size_t aside = DamagedFilesInDir();
    QueueAlarm("pump2", AlarmState::kRaised, 0.7);
    const SavedAlarms saved = store_.Load(storage_->outbox());
    EXPECT_EQ(saved.count("pump1"), 0u);
    ASSERT_EQ(saved.count("pump2"), 1u);
    EXPECT_EQ(saved.at("pump2").state, AlarmState::kRaised);
    EXPECT_EQ(DamagedStateFiles(), before + 1);
    EXPECT_FALSE(fs::exists(store_.path()));
    EXPECT_EQ(DamagedFilesInDir(), aside + 1);
    // The next transition writes a good file again.
    ASSERT_TRUE(store_.Save({{"pump1", {AlarmState::kNormal, 0.0}}}).ok());
    EXPECT_EQ(store_.Load(storage_->outbox()).at("pump1").state, AlarmState::kNormal);
    fs::remove(store_.path());
  }
}

TEST(AlarmStateFile, ParsesWhatSaveWritesAndNamesTheFault) {
  const StatusOr<SavedAlarms> ok = ParseAlarmStateFile(
      R"({"a": {"state": "raised", "peak_score": 2}, "b": {"state": "cleared"}})");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->at("a").state, AlarmState::kRaised);
  EXPECT_DOUBLE_EQ(ok->at("a").peak_score, 2.0);
  EXPECT_EQ(ok->at("b").state, AlarmState::kNormal);
  const StatusOr<SavedAlarms> bad =
      ParseAlarmStateFile(R"({"a": {"state": "raised", "peak_score": null}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"a\": \"peak_score\" is not a number"), std::string::npos)
      << bad.status().message();
}

TEST(AlarmStateFile, HistoryRowsOfTheWrongShapeAreSkipped) {
  SavedAlarms saved{{"a", {AlarmState::kRaised, 1.0}}};
  std::vector<storage::OutboxMessage> history(4);
  history[0].payload = R"({"asset": "a", "state": "cleared", "peak_score": "x"})";
  history[1].payload = R"({"asset": 7, "state": "cleared"})";
  history[2].payload = "not json";
  history[3].payload = R"({"asset": "b", "state": "raised", "peak_score": 0.9})";
  ApplyAlarmHistory(history, saved);
  EXPECT_EQ(saved.at("a").state, AlarmState::kRaised);
  EXPECT_EQ(saved.at("b").state, AlarmState::kRaised);
}

}  // namespace
}  // namespace edge::agent
