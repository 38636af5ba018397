// The storage section (how long and how much the sample buffer keeps) and the http section
// (where /metrics and /health listen).
#include "config/section_readers.h"
#include "config/value_syntax.h"
#include "core/quoted.h"

namespace edge::config::internal {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kStorageKeys[] = {"retention", "max_size", "max_clock_skew"};
constexpr std::string_view kHttpKeys[] = {"listen"};

}  // namespace

void ReadStorage(LoaderContext* ctx, const Field& f, StorageConfig* out) {
  YamlReader& reader = ctx->reader();
  auto m = reader.Map(f, kStorageKeys);
  if (!m) return;
  if (auto r = m->Get("retention")) {
    if (auto v = reader.DurationIn(*r, 1min, 3650 * 24h)) out->retention = *v;
  }
  if (auto s = m->Get("max_size")) {
    if (auto v = reader.SizeAtLeast(*s, 1ull << 20)) out->max_size_bytes = *v;
  }
  if (auto k = m->Get("max_clock_skew")) {
    if (auto v = reader.DurationIn(*k, 1s, 3650 * 24h)) out->max_clock_skew = *v;
  }
}

void ReadHttp(LoaderContext* ctx, const Field& f, HttpConfig* out) {
  YamlReader& reader = ctx->reader();
  auto m = reader.Map(f, kHttpKeys);
  if (!m) return;
  auto listen = m->Get("listen");
  if (!listen) return;
  auto s = reader.String(*listen);
  if (!s || s->empty()) return;  // empty: explicitly disabled
  if (Status st = CheckListenAddress(*s); st.ok()) {
    out->listen = *s;
  } else {
    reader.Error(*listen, Quoted(*s) + ": " + st.message());
  }
}

}  // namespace edge::config::internal
