// The mqtt_sources section: sensors that publish to a broker, each with its topic filter and the
// tags it yields (whose names may take topic levels matched by wildcards).
#include "config/section_readers.h"
#include "config/value_syntax.h"

namespace edge::config::internal {
namespace {

constexpr std::string_view kSourceKeys[] = {"name",          "broker", "client_id",      "username",
                                            "password_file", "tls",    "keepalive",      "topic",
                                            "qos",           "tags",   "timestamp_field"};
constexpr std::string_view kSourceTagKeys[] = {"name", "field"};

// Reads the sources of one mqtt_sources section.
class MqttSourcesReader {
 public:
  MqttSourcesReader(LoaderContext* ctx, const std::string& gateway_id,
                    const std::optional<UpstreamConfig>& upstream)
      : ctx_(ctx), reader_(ctx->reader()), gateway_id_(gateway_id), upstream_(upstream) {}

  std::vector<MqttSource> Read(const Field& f);

 private:
  std::optional<MqttSource> ReadSource(const Field& f);
  // The broker: the source's own, or the upstream one's settings (client id aside).
  bool ReadBroker(const MapView& m, BrokerConfig* out);
  std::optional<MqttSourceTag> ReadTag(const Field& f, const std::string& topic);

  LoaderContext* ctx_;
  YamlReader& reader_;
  const std::string& gateway_id_;
  const std::optional<UpstreamConfig>& upstream_;
  NameTable source_names_;
};

std::vector<MqttSource> MqttSourcesReader::Read(const Field& f) {
  std::vector<MqttSource> sources;
  auto items = ctx_->TagHoldingList(f);
  if (!items) return sources;
  for (const Field& item : *items) {
    if (auto s = ReadSource(item)) sources.push_back(std::move(*s));
  }
  return sources;
}

std::optional<MqttSource> MqttSourcesReader::ReadSource(const Field& f) {
  auto m = ctx_->TagHoldingMap(f, kSourceKeys);
  if (!m) return std::nullopt;
  MqttSource src;
  src.pos = m->pos();
  bool ok = true;
  ok &= ctx_->ReadUniqueName(*m, "name", "source name", &source_names_, "source", &src.name);
  ok &= ReadBroker(*m, &src.broker);
  ok &= ReadConnectionSettings(ctx_, *m, &src.broker);
  if (src.broker.client_id.empty()) src.broker.client_id = gateway_id_ + "-" + src.name;

  std::string topic;
  if (auto s = ctx_->RequireChecked(*m, "topic", CheckTopicFilter)) {
    topic = *s;
    src.topic = *s;
  } else {
    ok = false;
  }
  if (auto q = m->Get("qos")) {
    if (auto v = reader_.Integer(*q, 0, 2)) src.qos = static_cast<int>(*v);
  }
  if (auto ts = m->Get("timestamp_field")) {
    if (auto s = ctx_->CheckedString(*ts, CheckJsonPointer)) {
      if (s->empty()) {
        reader_.Error(*ts, "empty JSON pointer; omit timestamp_field to use the arrival time");
      }
      src.timestamp_field = *s;
    }
  }
  ok &= ctx_->ReadTags(*m, "a source needs at least one tag", &src.tags,
                       [&](const Field& item) { return ReadTag(item, topic); });
  if (!ok) return std::nullopt;
  FinishConnection(ctx_, *m, &src.broker);
  return src;
}

bool MqttSourcesReader::ReadBroker(const MapView& m, BrokerConfig* out) {
  if (auto broker = m.Get("broker")) return ReadBrokerUri(ctx_, *broker, out);
  if (upstream_) {
    *out = upstream_->broker;
    out->client_id.clear();
    return true;
  }
  if (ctx_->upstream_present()) return false;  // upstream is broken; already reported
  ctx_->sink().Add(m.pos(), LoaderContext::ChildPathOf(m, "broker") +
                                ": required key is missing (there is no upstream broker to "
                                "default to)");
  return false;
}

std::optional<MqttSourceTag> MqttSourcesReader::ReadTag(const Field& f, const std::string& topic) {
  auto m = ctx_->TagHoldingMap(f, kSourceTagKeys);
  if (!m) return std::nullopt;
  MqttSourceTag tag;
  tag.pos = m->pos();
  bool ok = true;
  auto name = reader_.Require(*m, "name");
  if (auto s = name ? reader_.String(*name) : std::nullopt) {
    ctx_->RegisterTag(*name, *s);
    // An unknown topic (reported already) admits any placeholder.
    auto t = TagNameTemplate::Parse(*s, topic.empty() ? "#" : topic);
    if (t.ok()) {
      tag.name = *s;
      if (t->has_placeholders()) ctx_->AddTagTemplate(std::move(*t));
    } else {
      reader_.Error(*name, t.status().message());
      ok = false;
    }
  } else {
    ctx_->MarkTagsIncomplete();
    ok = false;
  }
  if (auto field = m->Get("field")) {
    if (auto s = ctx_->CheckedString(*field, CheckJsonPointer)) {
      tag.field = *s;
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return tag;
}

}  // namespace

std::vector<MqttSource> ReadMqttSources(LoaderContext* ctx, const Field& f,
                                        const std::string& gateway_id,
                                        const std::optional<UpstreamConfig>& upstream) {
  return MqttSourcesReader(ctx, gateway_id, upstream).Read(f);
}

}  // namespace edge::config::internal
