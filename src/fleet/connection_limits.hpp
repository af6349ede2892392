#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace fleet {

/// What a peer of a CAF port may make this process spend (issue 16). CAF 0.17's BASP reader sizes
/// its buffer from a header's length field before any handshake, and its acceptor spins when
/// descriptors run out; the guard in front of it (client/guarded_io.hpp) enforces these. No CAF
/// headers here: fleetd's configuration holds them too.
struct connection_limits {
  /// Accepted connections at once, in total and from one address; beyond them a new connection is
  /// closed at once (and logged).
  size_t max_connections = 1024;
  size_t max_connections_per_peer = 256;
  /// An accepted connection that has not completed CAF's handshake (and TLS's, where configured)
  /// within this long is closed.
  int64_t handshake_timeout_ms = 5000;
  /// The largest message a peer may announce before its handshake completed, and after it.
  /// Messages above 64 KiB are read in parts as their bytes arrive, so memory follows what a peer
  /// sends, not what it announces.
  size_t max_handshake_bytes = size_t{1} << 20;
  size_t max_message_bytes = size_t{256} << 20;
  /// How long connecting to a peer may take (TCP connect, not the handshake).
  int64_t connect_timeout_ms = 30000;
};

/// Where the guard's warnings go (fleetd: its log); none by default (fleetctl's output stays clean).
using connection_log = std::function<void(const std::string&)>;

} // namespace fleet
