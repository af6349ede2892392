#include "client/tls_transport.hpp"

#include "client/guarded_io.hpp"
#include "fleetd/tls.hpp"

#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/session.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>
#include <caf/settings.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

namespace fleet::net {

namespace {

using caf::io::network::rw_state;

/// CAF's openssl session as a guarded scribe's read/write policy.
struct tls_policy {
  explicit tls_policy(caf::openssl::session_ptr s) : session(std::move(s)) {}

  rw_state read_some(size_t& result, native_socket fd, void* buf, size_t len) {
    return session->read_some(result, fd, buf, len);
  }

  rw_state write_some(size_t& result, native_socket fd, const void* buf, size_t len) {
    return session->write_some(result, fd, buf, len);
  }

  bool must_read_more(native_socket fd, size_t threshold) { return session->must_read_more(fd, threshold); }

  // The TLS handshake may have to write first: an empty write schedules it.
  template <class Stream, class Manager>
  static void after_start(Stream& stream, Manager* mgr) {
    stream.force_empty_write(mgr);
  }

  caf::openssl::session_ptr session;
};

class tls_middleman final : public caf::io::middleman_actor_impl {
public:
  tls_middleman(caf::actor_config& cfg, caf::actor default_broker, caf::actor lifetime)
    : caf::io::middleman_actor_impl(cfg, std::move(default_broker)), lifetime_(std::move(lifetime)) {}

  const char* name() const override { return "fleet.tls_middleman"; }

  behavior_type make_behavior() override {
    // CAF's own TLS middleman is stopped when the actor system shuts down: this one goes with it.
    // (Not a monitor: the base class's down handler evicts its cache of connected peers.)
    caf::weak_actor_ptr self{ctrl()};
    lifetime_->attach_functor([self] {
      if (auto strong = self.lock())
        caf::anon_send_exit(strong, caf::exit_reason::kill);
    });
    // A strong handle would keep that actor from being destroyed, and its thread from ending.
    lifetime_ = nullptr;
    return caf::io::middleman_actor_impl::make_behavior();
  }

protected:
  caf::expected<caf::io::scribe_ptr> connect(const std::string& host, uint16_t port) override {
    auto& mpx = multiplexer();
    auto fd = connect_tcp(host, port, mpx.guard()->limits().connect_timeout_ms);
    if (!fd)
      return fd.error();
    // The certificate must name the host connected to, or the name pinned (fleetd_client's config).
    auto pinned = caf::get_or(system().config().content, "fleet-tls.server-name", std::string{});
    expect_server_name(pinned.empty() ? host : pinned);
    auto session = caf::openssl::make_session(system(), *fd, false);
    expect_server_name({});
    if (!session) {
      caf::io::network::close_socket(*fd);
      return caf::make_error(caf::sec::cannot_connect_to_node, "cannot start a TLS session");
    }
    return caf::io::scribe_ptr{
      caf::make_counted<guarded_scribe<tls_policy>>(mpx, *fd, mpx.guard(), false, host, std::move(session))};
  }

  caf::expected<caf::io::doorman_ptr> open(uint16_t port, const char* addr, bool reuse) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(port, addr, reuse);
    if (!fd)
      return fd.error();
    auto& mpx = multiplexer();
    auto make = [sys = &system(), guard = mpx.guard()](default_multiplexer& m, native_socket accepted,
                                                        const std::string& peer) -> caf::io::scribe_ptr {
      caf::io::network::nonblocking(accepted, true);
      auto session = caf::openssl::make_session(*sys, accepted, true);
      if (!session)
        return nullptr;
      return caf::make_counted<guarded_scribe<tls_policy>>(m, accepted, guard, true, peer, std::move(session));
    };
    return caf::io::doorman_ptr{
      caf::make_counted<guarded_doorman<decltype(make)>>(mpx, *fd, mpx.guard(), std::move(make))};
  }

private:
  guarded_multiplexer& multiplexer() {
    return static_cast<guarded_multiplexer&>(system().middleman().backend());
  }

  caf::actor lifetime_;
};

} // namespace

caf::io::middleman_actor spawn_tls_middleman(caf::actor_system& sys) {
  auto broker = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  auto lifetime = caf::actor_cast<caf::actor>(sys.openssl_manager().actor_handle());
  // Not detached as CAF's own is: the actor system waits for every detached actor to be destroyed
  // before it clears the registry that holds this one. A connect blocks a scheduler thread for at
  // most the connect timeout.
  return sys.spawn<tls_middleman, caf::hidden>(std::move(broker), std::move(lifetime));
}

} // namespace fleet::net
