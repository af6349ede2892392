#pragma once

// TLS with mutual authentication between fleetd and its clients (CAF's openssl module): each side
// presents a certificate signed by the private CA the other trusts; a peer without one is refused
// during the handshake, before any message reaches an actor.

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include <string>

namespace fleet {

/// PEM files: this node's certificate (chain) and private key, and the CA certificate that signs
/// the peers this node accepts.
struct tls_files {
  std::string cert{};
  std::string key{};
  std::string ca{};
  /// A client's: the name fleetd's certificate must carry as a subject alternative name (DNS name
  /// or IP address), pinned; empty: the host the client connects to.
  std::string server_name{};

  bool any() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

/// All three files or none; each readable and valid, and the key belongs to the certificate.
/// `prefix` names the options in the error ("fleet.tls-" for fleetd, "--tls-" for fleetctl).
/// CAF would otherwise find a bad file only at the first connection, and abort there.
caf::error check_tls_files(const tls_files& files, const std::string& prefix);

/// Loads CAF's openssl module with `files` (checked before). Call on the config before the actor
/// system exists, after `configure_client` (or fleetd's middleman). From then on `connect_fleet`
/// connects over TLS. Fails if this process's OpenSSL calls are not guarded (see below).
caf::error enable_tls(caf::actor_system_config& cfg, const tls_files& files);

/// Whether CAF's TLS calls go through the definitions that clear OpenSSL's error queue before each
/// read, write and handshake step (client/openssl_error_queue.cpp). enable_tls refuses to load
/// TLS without them: without them one peer's failed handshake drops the other connections. They
/// are in effect when fleet_client is linked statically into the executable, as it is installed.
bool openssl_error_queue_guarded();

/// The name the next TLS client session made on this thread checks the server's certificate
/// against (empty: none); the TLS transport sets it around each connect.
void expect_server_name(const std::string& name);

/// The subject ("/CN=fleetctl") of the certificate the TLS peer at `address` ("host:port" of its
/// end of the connection) presented to this process; empty if none is known.
std::string tls_peer_subject(const std::string& address);

/// The common name of that certificate's subject ("fleetctl"), if it has exactly one; else empty.
std::string tls_peer_common_name(const std::string& address);

/// Whether `host` is a loopback address (127.0.0.0/8, ::1, "localhost").
bool is_loopback(const std::string& host);

} // namespace fleet
