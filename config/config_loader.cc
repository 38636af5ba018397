#include "config/config_loader.h"

#include <filesystem>

#include "config/file_checks.h"
#include "config/loader_context.h"
#include "config/section_readers.h"
#include "config/yaml_diagnostics.h"
#include "config/yaml_reader.h"
#include "core/bounded_file.h"

namespace edge::config {
namespace {

using internal::DiagnosticSink;
using internal::Field;
using internal::LoaderContext;

// The sections of the file. config/REFERENCE.md documents each of them.
constexpr std::string_view kTopKeys[] = {"gateway", "upstream", "modbus", "mqtt_sources", "storage",
                                         "models",  "http",     "uplink", "x-*"};

// The sections of the document `root` (a mapping), each by its reader (config/section_readers.h).
AgentConfig ReadSections(LoaderContext* ctx, const Field& root_field) {
  AgentConfig config;
  auto root = ctx->reader().Map(root_field, kTopKeys);
  if (!root) return config;
  internal::ReadGateway(ctx, *root, &config.gateway);
  ctx->set_upstream_present(root->Has("upstream"));
  if (auto f = root->Get("upstream")) {
    config.upstream = internal::ReadUpstream(ctx, *f, config.gateway.id);
  }
  if (auto f = root->Get("modbus")) config.modbus = internal::ReadModbus(ctx, *f);
  if (auto f = root->Get("mqtt_sources")) {
    config.mqtt_sources = internal::ReadMqttSources(ctx, *f, config.gateway.id, config.upstream);
  }
  if (auto f = root->Get("storage")) internal::ReadStorage(ctx, *f, &config.storage);
  if (auto f = root->Get("models")) internal::ReadModels(ctx, *f, &config.models);
  if (auto f = root->Get("http")) internal::ReadHttp(ctx, *f, &config.http);
  if (auto f = root->Get("uplink")) internal::ReadUplink(ctx, *f, &config.uplink);
  ctx->CheckClientIds();
  return config;
}

}  // namespace

std::string Diagnostic::ToString() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": error: " + message;
}

LoadResult LoadConfigString(std::string_view yaml, const std::string& display_path,
                            const std::string& base_dir) {
  LoadResult result;
  DiagnosticSink sink(display_path);
  std::vector<YAML::Node> docs;
  std::optional<YAML::Mark> second_doc;
  try {
    docs = internal::LoadDocuments(std::string(yaml), &second_doc);
  } catch (const YAML::ParserException& e) {
    internal::SyntaxError error = internal::DiagnoseSyntaxError(yaml, e.mark, e.msg);
    sink.Add(error.pos, std::move(error.message));
    result.errors = sink.Sorted();
    return result;
  } catch (const std::exception& e) {
    sink.Add(SourcePos{1, 1}, std::string("invalid YAML: ") + e.what());
    result.errors = sink.Sorted();
    return result;
  }
  if (docs.empty() || docs[0].IsNull()) {
    sink.Add(SourcePos{1, 1}, "empty configuration; gateway.id is required");
    result.errors = sink.Sorted();
    return result;
  }
  // A trailing '---' leaves an empty document, which is harmless.
  if (second_doc) {
    sink.Add(internal::PositionOf(*second_doc),
             "a second YAML document (after '---') is not supported; keep one document");
  }
  AgentConfig config;
  try {
    LoaderContext ctx(&sink, base_dir);
    Field root;
    root.value = docs[0];
    root.value_pos = internal::PositionOf(docs[0].Mark());
    if (!docs[0].IsMap()) {
      sink.Add(root.value_pos,
               "expected the sections (gateway:, modbus:, ...) at the top "
               "level, got " +
                   internal::Describe(docs[0]));
    } else {
      config = ReadSections(&ctx, root);
    }
  } catch (const std::exception& e) {
    // A yaml-cpp exception here is a bug in the loader; report it rather than crash.
    sink.Add(SourcePos{1, 1},
             std::string("internal error while reading the configuration: ") + e.what());
  }
  result.errors = sink.Sorted();
  if (result.errors.empty()) {
    config.path = display_path;
    result.config = std::move(config);
  }
  return result;
}

LoadResult LoadConfigFile(const std::string& path) {
  StatusOr<std::string> text = ReadBoundedFile(path, kMaxConfigBytes);
  if (!text.ok()) {
    LoadResult result;
    std::string_view fault = text.status().message();
    if (fault.rfind("cannot open: ", 0) == 0) fault.remove_prefix(13);
    result.errors.push_back(Diagnostic{path, 1, 1, "cannot read file: " + std::string(fault)});
    return result;
  }
  const std::string base_dir = std::filesystem::path(path).parent_path().string();
  return LoadConfigString(*text, path, base_dir);
}

}  // namespace edge::config
