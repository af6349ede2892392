#include "client/transport.hpp"

#include "client/guarded_io.hpp"
#include "client/tls_transport.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include <mutex>

namespace fleet {

namespace {

constexpr auto tls_middleman_name = caf::atom("fleettls");

/// CAF's middleman actor for plain TCP, fleetd's guarded TLS one (made once per actor system)
/// when CAF's openssl module is loaded.
caf::io::middleman_actor transport(caf::actor_system& sys) {
  if (!sys.has_openssl_manager())
    return sys.middleman().actor_handle();
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard{mtx};
  auto& registry = sys.registry();
  if (auto existing = registry.get(tls_middleman_name))
    return caf::actor_cast<caf::io::middleman_actor>(existing);
  auto tls = net::spawn_tls_middleman(sys);
  registry.put(tls_middleman_name, caf::actor_cast<caf::strong_actor_ptr>(tls));
  return tls;
}

} // namespace

void load_guarded_middleman(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman, net::guarded_multiplexer>();
}

void configure_connections(caf::actor_system& sys, const connection_limits& limits, connection_log log) {
  static_cast<net::guarded_multiplexer&>(sys.middleman().backend()).guard()->configure(limits, std::move(log));
}

caf::expected<uint16_t> publish_actor(caf::actor_system& sys, caf::strong_actor_ptr whom,
                                      std::set<std::string> sigs, const std::string& host, uint16_t port) {
  caf::expected<uint16_t> out{caf::sec::runtime_error};
  caf::scoped_actor self{sys};
  self->request(transport(sys), caf::infinite, caf::publish_atom::value, port, std::move(whom), std::move(sigs), host,
                true)
    .receive([&](uint16_t actual) { out = actual; }, [&](caf::error& err) { out = std::move(err); });
  return out;
}

caf::error unpublish_actor(caf::actor_system& sys, const caf::actor_addr& whom, uint16_t port) {
  caf::error out;
  caf::scoped_actor self{sys};
  self->request(transport(sys), caf::infinite, caf::unpublish_atom::value, whom, port)
    .receive([] {}, [&](caf::error& err) { out = std::move(err); });
  return out;
}

caf::expected<caf::strong_actor_ptr> connect_actor(caf::actor_system& sys, const std::string& host, uint16_t port,
                                                   std::chrono::milliseconds timeout) {
  caf::expected<caf::strong_actor_ptr> out{caf::sec::runtime_error};
  // The guard bounds the TCP connect, the request the handshake that follows.
  static_cast<net::guarded_multiplexer&>(sys.middleman().backend()).guard()->set_connect_timeout(timeout.count());
  caf::scoped_actor self{sys};
  self->request(transport(sys), timeout, caf::connect_atom::value, host, port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& addr, std::set<std::string>&) {
        if (!addr)
          out = caf::make_error(caf::sec::no_actor_published_at_port, "nothing is published at that port");
        else
          out = std::move(addr);
      },
      [&](caf::error& err) { out = std::move(err); });
  return out;
}

} // namespace fleet
