#include "agent/cli/version_info.h"

#include <fmt/format.h>
#include <modbus/modbus.h>
#include <spdlog/version.h>

#include <CLI/Version.hpp>

#include "core/version.h"
#include "drivers/mqtt_connection.h"
#include "inference/model.h"

namespace edge::agent {

std::string VersionReport() {
  std::string out = fmt::format("edge-agent {}\n", kAgentVersion);
  out += fmt::format("  compiler   {}\n", __VERSION__);
  out += fmt::format("  yaml-cpp   {}\n", EDGE_YAML_CPP_VERSION);
  out +=
      fmt::format("  spdlog     {}.{}.{}\n", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH);
  out += fmt::format("  fmt        {}.{}.{}\n", FMT_VERSION / 10000, FMT_VERSION / 100 % 100,
                     FMT_VERSION % 100);
  out += fmt::format("  CLI11      {}\n", CLI11_VERSION);
  out += fmt::format("  libmodbus  {}.{}.{} (built against {})\n", libmodbus_version_major,
                     libmodbus_version_minor, libmodbus_version_micro, LIBMODBUS_VERSION_STRING);
  out += inference::InferenceLibraryVersions();
  out += fmt::format("  paho       {}\n", drivers::MqttLibraryVersions());
  return out;
}

}  // namespace edge::agent
