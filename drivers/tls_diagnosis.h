// DiagnoseTlsHandshake: puts a failed TLS connection to an MQTT broker into words.
//
// paho C 1.3.12 reports every failed TLS handshake as the same MQTTASYNC_FAILURE (its OpenSSL
// error text goes to stderr only). To name the fault, MqttConnection (drivers/mqtt_connection.h)
// calls this after such a failure: it repeats the handshake with OpenSSL directly and the same
// settings (trust store, client certificate, host name check) and says what failed: the
// broker's certificate expired / not for this host name / not signed by tls.ca_file, the broker
// requires or refused our client certificate.
//
// Thread-safety: no shared state; it blocks for up to a few seconds (one TCP connect and one
// handshake, each bounded), so call it from a thread that may wait (the connection thread).
#pragma once

#include <string>

#include "config/config.h"
#include "config/value_syntax.h"

namespace edge::drivers {

// What failed, in words; "" when it cannot tell (then the caller keeps its generic advice).
std::string DiagnoseTlsHandshake(const config::BrokerAddress& address,
                                 const config::TlsConfig& tls);

}  // namespace edge::drivers
