#include "config/loader_context.h"

#include <utility>

#include "core/quoted.h"

namespace edge::config::internal {

std::string LineRef(SourcePos pos) { return "line " + std::to_string(pos.line); }

std::string NameError(std::string_view name, std::string_view what, const std::string& fault) {
  if (fault.rfind("longer", 0) == 0) {
    return Quoted(name) + " is not a valid " + std::string(what) + ": " + fault;
  }
  return Quoted(name) + " is not a valid " + std::string(what) + " (letters, digits, '_', '.', '-')";
}

LoaderContext::LoaderContext(DiagnosticSink* sink, const std::string& base_dir)
    : sink_(sink), reader_(sink) {
  std::error_code ec;
  std::filesystem::path base(base_dir.empty() ? "." : base_dir);
  if (base.is_relative()) base = std::filesystem::current_path(ec) / base;
  base_dir_ = base.lexically_normal();
}

// ---- common value checks --------------------------------------------------------------------

std::optional<std::string> LoaderContext::Name(const Field& f, std::string_view what,
                                               size_t max_bytes) {
  auto s = reader_.String(f);
  if (!s) return std::nullopt;
  if (std::string fault = NameFault(*s, max_bytes); !fault.empty()) {
    reader_.Error(f, NameError(*s, what, fault));
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> LoaderContext::NonEmptyString(const Field& f) {
  auto s = reader_.String(f);
  if (!s) return std::nullopt;
  if (s->empty()) {
    reader_.Error(f, "empty value");
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> LoaderContext::CheckedString(const Field& f, ValueCheck check) {
  auto s = reader_.String(f);
  if (!s) return std::nullopt;
  Status st = check(*s);
  if (!st.ok()) {
    reader_.Error(f, Quoted(*s) + ": " + st.message());
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> LoaderContext::RequireChecked(const MapView& m, std::string_view key,
                                                         ValueCheck check) {
  auto field = reader_.Require(m, key);
  if (!field) return std::nullopt;
  return CheckedString(*field, check);
}

bool LoaderContext::ReadUniqueName(const MapView& m, std::string_view key, std::string_view what,
                                   NameTable* seen, std::string_view kind, std::string* out) {
  auto field = reader_.Require(m, key);
  if (!field) return false;
  auto name = Name(*field, what);
  if (!name) return false;
  *out = *name;
  auto [it, inserted] = seen->emplace(*name, field->value_pos);
  if (inserted) return true;
  reader_.Error(*field, "duplicate " + std::string(kind) + " name '" + *name +
                            "'; first defined at " + LineRef(it->second));
  return false;
}

// ---- referenced files -----------------------------------------------------------------------

std::optional<std::string> LoaderContext::CheckedFile(const Field& f,
                                                      Status (*check)(const std::string&,
                                                                      const std::string&)) {
  auto s = NonEmptyString(f);
  if (!s) return std::nullopt;
  std::string path = Resolve(*s);
  if (Status st = check(*s, path); !st.ok()) {
    reader_.Error(f, st.message());
    return std::nullopt;
  }
  return path;
}

std::optional<std::string> LoaderContext::ReadableFile(const Field& f) {
  return CheckedFile(f, CheckReadableFile);
}

std::optional<std::string> LoaderContext::SecretFile(const Field& f) {
  return CheckedFile(f, CheckSecretFile);
}

std::optional<std::string> LoaderContext::PackageDir(const Field& f) {
  return CheckedFile(f, CheckPackageDir);
}

std::optional<std::string> LoaderContext::PublicKeyFile(const Field& f) {
  std::optional<std::string> path = ReadableFile(f);
  if (!path) return std::nullopt;
  if (Status st = CheckPublicKeyFile(f.value.Scalar(), *path); !st.ok()) {
    reader_.Error(f, st.message());
    return std::nullopt;
  }
  return path;
}

// ---- tag names ------------------------------------------------------------------------------

std::optional<MapView> LoaderContext::TagHoldingMap(const Field& f,
                                                    std::span<const std::string_view> keys) {
  auto m = reader_.Map(f, keys);
  if (!m) tags_complete_ = false;
  return m;
}

std::optional<std::vector<Field>> LoaderContext::TagHoldingList(const Field& f) {
  auto items = reader_.List(f);
  if (!items) tags_complete_ = false;
  return items;
}

void LoaderContext::RegisterTag(const Field& f, const std::string& name) {
  auto [it, inserted] = tag_defs_.emplace(name, TagDef{f.value_pos, f.path});
  if (!inserted) {
    reader_.Error(f, "duplicate tag name " + Quoted(name) + "; first defined at " +
                         LineRef(it->second.pos) + " (" + it->second.path + ")");
  }
}

std::optional<std::string> LoaderContext::TagReference(const Field& f) {
  auto s = reader_.String(f);
  if (!s) return std::nullopt;
  if (s->empty()) {
    reader_.Error(f, "empty tag name");
    return std::nullopt;
  }
  if (tag_defs_.count(*s) != 0) return s;
  for (const TagNameTemplate& t : templates_) {
    if (t.Matches(*s)) return s;
  }
  if (!tags_complete_) return std::nullopt;  // it may be one of the tags that failed to read
  std::vector<std::string_view> known;
  for (const auto& [name, def] : tag_defs_) known.push_back(name);
  const std::string suggestion = ClosestMatch(*s, known);
  reader_.Error(f, "unknown tag " + Quoted(*s) +
                       (suggestion.empty() ? " (no Modbus or MQTT tag has this name)"
                                           : "; did you mean " + Quoted(suggestion) + "?"));
  return std::nullopt;
}

// ---- MQTT connections -----------------------------------------------------------------------

void LoaderContext::AddConnection(const MapView& m, const BrokerConfig& b) {
  Connection c;
  c.path = m.path();
  c.uri = b.uri;
  c.client_id = b.client_id;
  c.id_path = ChildPathOf(m, "client_id");
  auto f = m.Get("client_id");
  c.pos = f ? f->value_pos : m.pos();
  connections_.push_back(std::move(c));
}

void LoaderContext::CheckClientIds() {
  for (const Connection& c : connections_) {
    if (c.client_id.size() <= kMaxClientIdBytes) continue;
    sink_->Add(c.pos, c.id_path + ": client id " + Quoted(c.client_id) + " is " +
                          TooLongFault(c.client_id.size(), kMaxClientIdBytes) +
                          ", more than some brokers accept; set a shorter client_id");
  }
  for (size_t i = 0; i < connections_.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const Connection& a = connections_[j];
      const Connection& b = connections_[i];
      if (a.client_id.empty() || a.client_id != b.client_id || a.uri != b.uri) continue;
      sink_->Add(b.pos, b.id_path + ": client id " + Quoted(b.client_id) + " is also used by " + a.path +
                            " on the same broker; the broker would disconnect one");
      break;
    }
  }
}

}  // namespace edge::config::internal
