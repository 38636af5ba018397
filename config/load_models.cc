// The models section: the model repository (where models are downloaded from, and the keys they
// must be signed with) and the deployments (which model runs for which asset, on which tags).
#include "config/section_readers.h"
#include "config/value_syntax.h"
#include "core/quoted.h"

namespace edge::config::internal {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kModelsKeys[] = {"repository", "deployments", "memory_budget"};
constexpr std::string_view kRepositoryKeys[] = {"url", "poll_interval", "trusted_keys", "ca_file",
                                                "allow_unsigned_latest"};
constexpr std::string_view kDeploymentKeys[] = {"asset",  "model", "package",
                                                "inputs", "alarm", "max_input_age"};
constexpr std::string_view kAlarmKeys[] = {"threshold", "raise_after", "clear_after"};

// The required, non-empty list of public key files at `f`; false if anything was wrong.
bool ReadTrustedKeys(LoaderContext* ctx, const Field& f, std::vector<std::string>* out) {
  YamlReader& reader = ctx->reader();
  if (f.value.IsScalar()) {
    reader.Error(f, "expected a list of public key files, e.g. [" + f.value.Scalar() + "]");
    return false;
  }
  auto items = reader.List(f);
  if (!items) return false;
  bool ok = true;
  if (items->empty()) {
    reader.Error(f, "at least one trusted key is needed to verify models");
    ok = false;
  }
  for (const Field& item : *items) {
    if (auto path = ctx->PublicKeyFile(item)) out->push_back(*path);
  }
  return ok;
}

std::optional<RepositoryConfig> ReadRepository(LoaderContext* ctx, const Field& f) {
  YamlReader& reader = ctx->reader();
  auto m = reader.Map(f, kRepositoryKeys);
  if (!m) return std::nullopt;
  RepositoryConfig repo;
  bool ok = true;
  if (auto s = ctx->RequireChecked(*m, "url", CheckRepositoryUrl)) {
    repo.url = *s;
  } else {
    ok = false;
  }
  if (auto p = m->Get("poll_interval")) {
    if (auto v = reader.DurationIn(*p, 10s, 24h)) repo.poll_interval = *v;
  }
  if (auto allow = m->Get("allow_unsigned_latest")) {
    if (auto v = reader.Bool(*allow)) repo.allow_unsigned_latest = *v;
  }
  if (auto keys = reader.Require(*m, "trusted_keys")) {
    ok &= ReadTrustedKeys(ctx, *keys, &repo.trusted_keys);
  } else {
    ok = false;
  }
  if (auto ca = m->Get("ca_file")) {
    if (auto s = ctx->ReadableFile(*ca)) {
      if (repo.url.rfind("http://", 0) == 0) {
        reader.ErrorAtKey(*ca, "applies to https:// only; the url is http://");
      }
      repo.ca_file = *s;
    }
  }
  if (!ok) return std::nullopt;
  return repo;
}

// Reads the deployments of one models section.
class DeploymentsReader {
 public:
  DeploymentsReader(LoaderContext* ctx, bool have_repository)
      : ctx_(ctx), reader_(ctx->reader()), have_repository_(have_repository) {}

  std::optional<Deployment> Read(const Field& f);

 private:
  // model or package (exactly one).
  bool ReadModelSource(const MapView& m, Deployment* d);
  bool ReadInputs(const MapView& m, Deployment* d);
  void ReadAlarm(const Field& f, AlarmConfig* out);

  LoaderContext* ctx_;
  YamlReader& reader_;
  const bool have_repository_;
  NameTable asset_names_;
};

std::optional<Deployment> DeploymentsReader::Read(const Field& f) {
  auto m = reader_.Map(f, kDeploymentKeys);
  if (!m) return std::nullopt;
  Deployment d;
  d.pos = m->pos();
  bool ok = true;
  ok &= ctx_->ReadUniqueName(*m, "asset", "asset name", &asset_names_, "asset", &d.asset);
  ok &= ReadModelSource(*m, &d);
  ok &= ReadInputs(*m, &d);
  if (auto alarm = m->Get("alarm")) ReadAlarm(*alarm, &d.alarm);
  if (auto age = m->Get("max_input_age")) {
    if (auto v = reader_.DurationIn(*age, 0ms, 24h)) d.max_input_age = *v;
  }
  if (!ok) return std::nullopt;
  return d;
}

bool DeploymentsReader::ReadModelSource(const MapView& m, Deployment* d) {
  auto model = m.Get("model");
  auto package = m.Get("package");
  bool ok = true;
  if (model && package) {
    const Field& later = model->key_pos.line > package->key_pos.line ? *model : *package;
    reader_.ErrorAtKey(later,
                       "model and package exclude each other: model comes from the "
                       "repository, package is a local directory");
    ok = false;
  } else if (!model && !package) {
    ctx_->sink().Add(m.pos(), m.path() +
                                  ": needs model (a name in the repository) or package (a "
                                  "local package directory)");
    ok = false;
  }
  if (model) {
    if (auto s = ctx_->Name(*model, "model name")) {
      d->model = *s;
      if (Status name = CheckModelName(*s); !name.ok()) {
        reader_.Error(*model, "model name " + Quoted(*s) + " " + name.message());
        ok = false;
      }
      if (!have_repository_ && !package) {
        reader_.Error(*model, Quoted(*s) +
                                  " needs a models.repository to download it from (or use "
                                  "package: for a local directory)");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (package) {
    if (auto s = ctx_->PackageDir(*package)) {
      d->package = *s;
    } else {
      ok = false;
    }
  }
  return ok;
}

bool DeploymentsReader::ReadInputs(const MapView& m, Deployment* d) {
  auto inputs = reader_.Require(m, "inputs");
  if (!inputs) return false;
  auto im = reader_.AnyMap(*inputs);
  if (!im) return false;
  bool ok = true;
  if (im->fields().empty()) {
    reader_.Error(*inputs,
                  "expected the model's features mapped to tags, e.g. Current: pump1.current");
    ok = false;
  }
  for (const Field& input : im->fields()) {
    if (auto tag = ctx_->TagReference(input)) {
      d->inputs[input.key] = *tag;
    } else {
      ok = false;
    }
  }
  return ok;
}

void DeploymentsReader::ReadAlarm(const Field& f, AlarmConfig* out) {
  auto am = reader_.Map(f, kAlarmKeys);
  if (!am) return;
  if (auto t = am->Get("threshold")) {
    if (auto v = reader_.Number(*t)) out->threshold = *v;
  }
  if (auto r = am->Get("raise_after")) {
    if (auto v = reader_.Integer(*r, 1, 10000)) out->raise_after = static_cast<int>(*v);
  }
  if (auto c = am->Get("clear_after")) {
    if (auto v = reader_.Integer(*c, 1, 10000)) out->clear_after = static_cast<int>(*v);
  }
}

}  // namespace

void ReadModels(LoaderContext* ctx, const Field& f, ModelsConfig* out) {
  YamlReader& reader = ctx->reader();
  auto m = reader.Map(f, kModelsKeys);
  if (!m) return;
  auto repo = m->Get("repository");
  if (repo) out->repository = ReadRepository(ctx, *repo);
  if (auto budget = m->Get("memory_budget")) {
    if (auto v = reader.SizeAtLeast(*budget, 1ull << 20)) {
      if (*v > (1ull << 40)) {
        reader.Error(*budget, budget->value.Scalar() + " is above the maximum 1TiB");
      } else {
        out->memory_budget = *v;
      }
    }
  }
  auto deployments = m->Get("deployments");
  if (!deployments) return;
  auto items = reader.List(*deployments);
  if (!items) return;
  if (!items->empty() && !ctx->upstream_present()) {
    reader.ErrorAtKey(*deployments,
                      "alarms need an upstream broker to go to; add an upstream section");
  }
  DeploymentsReader deployment_reader(ctx, repo.has_value());
  for (const Field& item : *items) {
    if (auto d = deployment_reader.Read(item)) out->deployments.push_back(std::move(*d));
  }
}

}  // namespace edge::config::internal
