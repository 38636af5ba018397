// config/REFERENCE.md cannot drift from the validator: every key the loader accepts (the k*Keys
// tables of config/config_loader.cc and of its section readers config/load_*.cc, the one source
// of truth) has a row or a section in the reference, and every default the reference gives as a
// value is the loader's default.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include "config/config_loader.h"
#include "tests/support/test_files.h"

namespace edge::config {
namespace {

const std::filesystem::path kSourceDir = EDGE_SOURCE_DIR;

// config_loader.cc (the top-level keys) and every section reader, config/load_*.cc.
std::string LoaderSources() {
  std::string text = edge::testing::ReadFile(kSourceDir / "config/config_loader.cc");
  for (const auto& entry : std::filesystem::directory_iterator(kSourceDir / "config")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("load_", 0) == 0 && entry.path().extension() == ".cc") {
      text += edge::testing::ReadFile(entry.path());
    }
  }
  return text;
}

TEST(Reference, DocumentsEveryKeyTheLoaderAccepts) {
  const std::string loader = LoaderSources();
  const std::string reference = edge::testing::ReadFile(kSourceDir / "config/REFERENCE.md");
  const std::regex table(R"(constexpr std::string_view (k\w+Keys)\[\] = \{([^}]*)\};)");
  const std::regex quoted(R"re("([^"]+)")re");
  std::set<std::string> keys;
  int tables = 0;
  for (auto t = std::sregex_iterator(loader.begin(), loader.end(), table);
       t != std::sregex_iterator(); ++t) {
    ++tables;
    const std::string list = (*t)[2];
    for (auto k = std::sregex_iterator(list.begin(), list.end(), quoted);
         k != std::sregex_iterator(); ++k) {
      keys.insert((*k)[1]);
    }
  }
  ASSERT_GE(tables, 15) << "the key tables of config_loader.cc and config/load_*.cc were not found";
  ASSERT_GE(keys.size(), 50u);
  keys.erase("x-*");  // a pattern, described in the general rules
  for (const std::string& key : keys) {
    // A table row (`key`, or `parent.key` for a nested one) or a section heading.
    const bool documented = reference.find("| `" + key + "` |") != std::string::npos ||
                            reference.find("." + key + "` |") != std::string::npos ||
                            reference.find("# `" + key + "`") != std::string::npos;
    EXPECT_TRUE(documented) << "config/REFERENCE.md has no row or section for the key `" << key
                            << "`";
  }
}

// The default column of the row for `key` in the first table after `heading`: the first
// backquoted value ("`500ms`" -> "500ms"), or "" if the row or a backquoted value is missing.
std::string DocumentedDefault(const std::string& reference, const std::string& heading,
                              const std::string& key) {
  const size_t section = reference.find("\n" + heading);
  if (section == std::string::npos) return "";
  const size_t row = reference.find("\n| `" + key + "` |", section);
  if (row == std::string::npos) return "";
  std::vector<std::string> cells;  // key, type, default
  size_t at = row + 1;             // the row's first '|'
  const size_t end = reference.find('\n', at);
  while (at < end && cells.size() < 3) {
    const size_t bar = reference.find('|', at + 1);
    cells.push_back(reference.substr(at + 1, std::min(bar, end) - at - 1));
    at = bar;
  }
  if (cells.size() < 3) return "";
  const std::string& cell = cells[2];
  const size_t open = cell.find('`');
  const size_t close = open == std::string::npos ? open : cell.find('`', open + 1);
  return close == std::string::npos ? "" : cell.substr(open + 1, close - open - 1);
}

// Every default the reference gives as a value (`30s`, `502`, `holding`, ...) is the loader's: a
// file that sets the key to the documented value loads to exactly the configuration of the same
// file without the key. Defaults described in words ("the manifest's threshold", "`gateway.id`")
// are not values and are not listed here.
TEST(Reference, DocumentedDefaultsAreTheLoadersDefaults) {
  const std::string reference = edge::testing::ReadFile(kSourceDir / "config/REFERENCE.md");
  const std::string key_file = (kSourceDir / "models/keys/skab-pump.pub").string();
  const std::string device = "modbus:\n  - name: d\n    host: 127.0.0.1\n";
  const std::string uplink =
      "gateway: {id: gw1}\nupstream: {broker: tcp://127.0.0.1:1883, topic_prefix: p}\nuplink:\n";
  struct Case {
    std::string heading;  // of the reference's section
    std::string yaml;     // a valid file; "@@" is where `key: default` goes
    std::vector<std::string> keys;
  };
  const std::vector<Case> cases = {
      {"## `gateway`", "gateway:\n  id: gw1\n  @@\n", {"data_dir", "log_level"}},
      {"## `upstream`",
       "gateway: {id: gw1}\nupstream:\n  broker: tcp://127.0.0.1:1883\n  topic_prefix: p\n  @@\n",
       {"keepalive"}},
      {"### `tls`",
       "gateway: {id: gw1}\nupstream:\n  broker: ssl://127.0.0.1:8883\n  topic_prefix: p\n"
       "  tls:\n    @@\n",
       {"verify_hostname"}},
      {"## `modbus`",
       "gateway: {id: gw1}\n" + device + "    tags: [{name: t, address: 0}]\n    @@\n",
       {"port", "unit_id", "poll_interval", "timeout", "max_registers_per_request", "max_gap"}},
      {"### `serial`",
       "gateway: {id: gw1}\nmodbus:\n  - name: d\n    serial:\n      device: /dev/ttyUSB0\n"
       "      @@\n    tags: [{name: t, address: 0}]\n",
       {"baud", "parity", "data_bits", "stop_bits"}},
      {"### Modbus tags",
       "gateway: {id: gw1}\n" + device +
           "    tags:\n      - name: t\n        address: 0\n        @@\n",
       {"table", "type", "scale", "offset"}},
      {"### Modbus tags",
       "gateway: {id: gw1}\n" + device +
           "    tags:\n      - name: t\n        address: 0\n        type: float32\n        @@\n",
       {"word_order"}},
      {"## `mqtt_sources`",
       "gateway: {id: gw1}\nmqtt_sources:\n  - name: s\n    broker: tcp://127.0.0.1:1883\n"
       "    topic: a/b\n    tags: [{name: t}]\n    @@\n",
       {"qos"}},
      {"## `storage`", "gateway: {id: gw1}\nstorage:\n  @@\n",
       {"retention", "max_size", "max_clock_skew"}},
      {"### `repository`",
       "gateway: {id: gw1}\nmodels:\n  repository:\n    url: https://repo.example/\n"
       "    trusted_keys: [" +
           key_file + "]\n    @@\n",
       {"poll_interval"}},
      {"### `telemetry`",
       uplink + "  telemetry:\n    - name: s\n      tags: [t]\n      @@\n",
       {"mode", "encoding", "max_batch", "max_rate", "start"}},
      {"### `telemetry`",
       uplink + "  telemetry:\n    - name: s\n      tags: [t]\n      mode: deadband\n"
                "      deadband: {absolute: 1}\n      @@\n",
       {"max_interval"}},
      {"### `alarm_context`", uplink + "  alarm_context:\n    @@\n", {"before", "after"}},
  };
  int checked = 0;
  for (const Case& c : cases) {
    for (const std::string& key : c.keys) {
      SCOPED_TRACE(c.heading + " " + key);
      const std::string value = DocumentedDefault(reference, c.heading, key);
      ASSERT_NE(value, "") << "no row with a value as default";
      std::string omitted = c.yaml;
      omitted.replace(omitted.find("@@"), 2, "");
      std::string explicit_default = c.yaml;
      explicit_default.replace(explicit_default.find("@@"), 2, key + ": " + value);
      const LoadResult without = LoadConfigString(omitted, "agent.yaml", "/");
      const LoadResult with = LoadConfigString(explicit_default, "agent.yaml", "/");
      ASSERT_TRUE(without.ok()) << omitted << "\n" << without.errors[0].ToString();
      ASSERT_TRUE(with.ok()) << explicit_default << "\n" << with.errors[0].ToString();
      EXPECT_TRUE(*with.config == *without.config)
          << "config/REFERENCE.md gives `" << value << "` as the default of `" << key
          << "`, but the loader's default differs";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 32);
}

}  // namespace
}  // namespace edge::config
