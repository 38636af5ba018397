// The gateway and upstream sections, and the MQTT connection settings (broker URI, client id,
// credentials, TLS, keepalive) that MQTT sources share with upstream.
#include <algorithm>
#include <cctype>

#include "config/section_readers.h"
#include "config/value_syntax.h"
#include "core/quoted.h"

namespace edge::config::internal {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kGatewayKeys[] = {"id", "data_dir", "log_level"};
constexpr std::string_view kUpstreamKeys[] = {"broker", "client_id", "username",    "password_file",
                                              "tls",    "keepalive", "topic_prefix"};
constexpr std::string_view kTlsKeys[] = {"ca_file", "cert_file", "key_file", "verify_hostname"};

constexpr std::string_view kLogLevels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};

void ReadClientId(LoaderContext* ctx, const Field& f, BrokerConfig* out) {
  YamlReader& reader = ctx->reader();
  auto s = reader.String(f);
  if (!s) return;
  const bool printable = !s->empty() && std::all_of(s->begin(), s->end(), [](char c) {
    return std::isgraph(static_cast<unsigned char>(c));
  });
  if (printable) {
    out->client_id = *s;
  } else {
    reader.Error(f, Quoted(*s) + " is not a valid client id (no spaces or control characters)");
  }
}

std::optional<TlsConfig> ReadTls(LoaderContext* ctx, const Field& f) {
  YamlReader& reader = ctx->reader();
  auto m = reader.Map(f, kTlsKeys);
  if (!m) return std::nullopt;
  TlsConfig tls;
  if (auto ca = m->Get("ca_file")) {
    if (auto s = ctx->ReadableFile(*ca)) tls.ca_file = *s;
  }
  auto cert = m->Get("cert_file");
  auto key = m->Get("key_file");
  if (cert) {
    if (auto s = ctx->ReadableFile(*cert)) tls.cert_file = *s;
  }
  if (key) {
    if (auto s = ctx->SecretFile(*key)) tls.key_file = *s;
  }
  if (cert && !key) {
    ctx->sink().Add(m->pos(),
                    LoaderContext::ChildPathOf(*m, "key_file") + ": required with cert_file");
  }
  if (key && !cert) {
    ctx->sink().Add(m->pos(),
                    LoaderContext::ChildPathOf(*m, "cert_file") + ": required with key_file");
  }
  if (auto v = m->Get("verify_hostname")) {
    if (auto b = reader.Bool(*v)) tls.verify_hostname = *b;
  }
  return tls;
}

}  // namespace

void ReadGateway(LoaderContext* ctx, const MapView& root, GatewayConfig* out) {
  YamlReader& reader = ctx->reader();
  auto f = reader.Require(root, "gateway");
  if (!f) return;
  auto m = reader.Map(*f, kGatewayKeys);
  if (!m) return;
  if (auto id = reader.Require(*m, "id")) {
    if (auto s = ctx->Name(*id, "id", kMaxGatewayIdBytes)) out->id = *s;
  }
  if (auto dir = m->Get("data_dir")) {
    if (auto s = ctx->NonEmptyString(*dir)) out->data_dir = ctx->Resolve(*s);
  }
  if (auto level = m->Get("log_level")) {
    if (auto i = reader.OneOf(*level, kLogLevels)) out->log_level = kLogLevels[*i];
  }
}

std::optional<UpstreamConfig> ReadUpstream(LoaderContext* ctx, const Field& f,
                                           const std::string& gateway_id) {
  YamlReader& reader = ctx->reader();
  auto m = reader.Map(f, kUpstreamKeys);
  if (!m) return std::nullopt;
  UpstreamConfig up;
  bool ok = true;
  if (auto broker = reader.Require(*m, "broker")) {
    ok &= ReadBrokerUri(ctx, *broker, &up.broker);
  } else {
    ok = false;
  }
  ok &= ReadConnectionSettings(ctx, *m, &up.broker);
  if (auto prefix = reader.Require(*m, "topic_prefix")) {
    if (auto s = ctx->CheckedString(*prefix, CheckTopicPrefix)) up.topic_prefix = *s;
  }
  if (up.broker.client_id.empty()) up.broker.client_id = gateway_id;
  if (ok) FinishConnection(ctx, *m, &up.broker);
  return up;
}

bool ReadBrokerUri(LoaderContext* ctx, const Field& f, BrokerConfig* out) {
  YamlReader& reader = ctx->reader();
  auto s = reader.String(f);
  if (!s) return false;
  auto address = ParseBrokerUri(*s);
  if (!address.ok()) {
    reader.Error(f, Quoted(*s) + ": " + address.status().message());
    return false;
  }
  out->uri = *s;
  out->address = std::move(*address);
  return true;
}

bool ReadConnectionSettings(LoaderContext* ctx, const MapView& m, BrokerConfig* out) {
  YamlReader& reader = ctx->reader();
  bool ok = true;
  if (auto f = m.Get("client_id")) ReadClientId(ctx, *f, out);
  if (auto f = m.Get("username")) {
    if (auto s = ctx->NonEmptyString(*f)) out->username = *s;
  }
  if (auto f = m.Get("password_file")) {
    if (auto s = ctx->SecretFile(*f)) out->password_file = *s;
    if (!m.Has("username") && out->username.empty()) {
      reader.ErrorAtKey(*f, "needs username (MQTT sends a password only with a user name)");
    }
  }
  if (auto f = m.Get("tls")) {
    if (auto tls = ReadTls(ctx, *f)) {
      out->tls = *tls;
    } else {
      ok = false;
    }
  }
  if (auto f = m.Get("keepalive")) {
    if (auto d = reader.DurationIn(*f, 1s, 65535s)) {
      if (d->count() % 1000 != 0) {
        reader.Error(*f, f->value.Scalar() + " is not a whole number of seconds");
      } else {
        out->keepalive = *d;
      }
    }
  }
  return ok;
}

void FinishConnection(LoaderContext* ctx, const MapView& m, BrokerConfig* broker) {
  // ssl:// without a tls section uses the system CA store; tls with tcp:// is a mistake.
  const bool ssl = broker->address.tls;
  if (ssl && !broker->tls) broker->tls = TlsConfig{};
  auto tls = m.Get("tls");
  if (!ssl && broker->tls && tls) {
    ctx->reader().ErrorAtKey(*tls, "the broker is tcp:// (no TLS); use an ssl:// URI for TLS");
  }
  ctx->AddConnection(m, *broker);
}

}  // namespace edge::config::internal
