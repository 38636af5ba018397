// The readers of the configuration file's sections, one file each, called by the loader
// (config_loader.cc) in document order of the schema: gateway, upstream, modbus, mqtt_sources,
// storage, models, http, uplink. Each reads its section with the keys, defaults and ranges of
// config/REFERENCE.md, reports every fault through the LoaderContext and returns what it could
// read; the loader discards the result when anything was reported.
//
// Order matters where a section refers to an earlier one: MQTT sources default to the upstream
// broker, deployment inputs name the tags of Modbus devices and MQTT sources.
//
// Internal to the config library (exposes yaml-cpp through config/yaml_reader.h).
// Thread-safety: as LoaderContext; one thread per load.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/loader_context.h"

namespace edge::config::internal {

// ---- load_gateway_upstream.cc ----

// The required gateway section of `root`.
void ReadGateway(LoaderContext* ctx, const MapView& root, GatewayConfig* out);
// client_id defaults to `gateway_id`.
std::optional<UpstreamConfig> ReadUpstream(LoaderContext* ctx, const Field& f,
                                           const std::string& gateway_id);

// The connection settings an MQTT source shares with upstream. ReadBrokerUri returns false
// when the URI is bad (checks that depend on it are then skipped); ReadConnectionSettings sets
// only the keys present (client_id, username, password_file, tls, keepalive) and returns false
// when tls is bad. FinishConnection, once the section is read without fault, defaults tls for
// ssl://, refuses tls with tcp:// and records the connection for the client-id check.
bool ReadBrokerUri(LoaderContext* ctx, const Field& f, BrokerConfig* out);
bool ReadConnectionSettings(LoaderContext* ctx, const MapView& m, BrokerConfig* out);
void FinishConnection(LoaderContext* ctx, const MapView& m, BrokerConfig* broker);

// ---- load_modbus.cc, load_modbus_tag.cc ----

std::vector<ModbusDevice> ReadModbus(LoaderContext* ctx, const Field& f);
// One tag of a device whose requests carry at most `max_registers`.
std::optional<ModbusTag> ReadModbusTag(LoaderContext* ctx, const Field& f, int max_registers);

// ---- load_mqtt_sources.cc ----

// client_id defaults to <gateway_id>-<name>; the broker settings to `upstream`'s.
std::vector<MqttSource> ReadMqttSources(LoaderContext* ctx, const Field& f,
                                        const std::string& gateway_id,
                                        const std::optional<UpstreamConfig>& upstream);

// ---- load_models.cc ----

void ReadModels(LoaderContext* ctx, const Field& f, ModelsConfig* out);

// ---- load_storage_http.cc ----

void ReadStorage(LoaderContext* ctx, const Field& f, StorageConfig* out);
void ReadHttp(LoaderContext* ctx, const Field& f, HttpConfig* out);

// ---- load_uplink.cc ----

// Needs the upstream section (its presence is recorded in `ctx` before).
void ReadUplink(LoaderContext* ctx, const Field& f, UplinkConfig* out);

}  // namespace edge::config::internal
