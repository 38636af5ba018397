// SetNoDelayOnSocketsToPort: turns Nagle's algorithm off on TCP connections that a library opened
// and does not let us reach, found by scanning this process's file descriptors.
//
// Why: MQTT sends small packets that wait for an answer (PUBLISH then PUBACK, SUBSCRIBE then
// SUBACK). With Nagle on, a small PUBLISH written while an earlier one is unacknowledged waits
// for the peer's delayed ACK, up to 40 ms on Linux, so QoS 1 alarms and acknowledgements crawl.
// paho C 1.3.12 never sets TCP_NODELAY (Socket_new in its Socket.c creates the socket, makes it
// non-blocking and connects; no setsockopt) and has no hook that hands out the socket. So after
// each connect MqttConnection (drivers/mqtt_connection.h) calls this with the broker's port.
//
// Why every socket with that peer port: /proc/self/fd gives no owner, and the port is the only
// thing we know of paho's socket. Other sockets of this process to the same port are other MQTT
// connections (sources and upstream may share a broker), for which TCP_NODELAY is as right;
// setting it only changes when small segments leave, never what is sent.
//
// Thread-safety: safe from any thread (it only reads /proc and calls setsockopt on sockets it
// finds; a socket closed meanwhile fails getsockopt and is skipped).
#pragma once

#include <cstdint>

namespace edge::drivers {

// Sets TCP_NODELAY on every TCP socket of this process whose peer port is `port`; returns true
// if at least one such socket was found and all of them now have it.
bool SetNoDelayOnSocketsToPort(uint16_t port);

}  // namespace edge::drivers
