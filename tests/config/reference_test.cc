// config/REFERENCE.md cannot drift from the validator: every key the loader accepts (the k*Keys
// tables of config/config_loader.cc, its one source of truth) has a row or a section in the
// reference.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include "tests/support/test_files.h"

namespace edge::config {
namespace {

const std::filesystem::path kSourceDir = EDGE_SOURCE_DIR;

TEST(Reference, DocumentsEveryKeyTheLoaderAccepts) {
  const std::string loader = edge::testing::ReadFile(kSourceDir / "config/config_loader.cc");
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
  ASSERT_GE(tables, 15) << "the key tables of config_loader.cc were not found";
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

}  // namespace
}  // namespace edge::config
