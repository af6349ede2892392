#pragma once

// The guard in front of CAF 0.17's middleman (issue 16), built from its extension points: a
// multiplexer whose scribes read BASP messages within bounds and in parts, and whose acceptors
// count connections, close the ones that never complete their handshake, and survive running out
// of descriptors. The same scribe and acceptor serve plain TCP and TLS (client/tls_transport.cpp).
// Everything here runs on the multiplexer's thread unless said otherwise.

#include "client/peer_frames.hpp"
#include "fleet/connection_limits.hpp"

#include <caf/intrusive_ptr.hpp>
#include <caf/io/doorman.hpp>
#include <caf/io/network/acceptor.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/native_socket.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/io/scribe.hpp>
#include <caf/policy/tcp.hpp>
#include <caf/ref_counted.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace fleet::net {

using caf::io::network::default_multiplexer;
using caf::io::network::native_socket;

/// A connection the guard watches: it can be closed from the outside.
class guarded_connection {
public:
  /// Closes the connection and tells its broker, which forgets it. `kind` names the reason for
  /// the log's rate limit, `why` says it in full.
  virtual void refuse(const std::string& kind, const std::string& why) = 0;
  virtual caf::ref_counted& counted() = 0;

protected:
  ~guarded_connection() = default;
};

/// The guard's state, shared by the multiplexer and every servant it made (they may outlive it).
class guard_state {
public:
  guard_state();
  ~guard_state();

  /// Limits and log (thread-safe): fleetd sets them before it publishes.
  void configure(const connection_limits& limits, connection_log log);
  connection_limits limits() const;
  /// How long the next TCP connects may take (thread-safe).
  void set_connect_timeout(int64_t ms);
  size_t max_handshake_bytes() const { return max_handshake_bytes_.load(std::memory_order_relaxed); }
  size_t max_message_bytes() const { return max_message_bytes_.load(std::memory_order_relaxed); }

  /// Why a new connection from `peer` may not be accepted, or nothing.
  std::optional<std::string> refusal(const std::string& peer) const;
  void admit(guarded_connection* c, const std::string& peer);
  void handshaken(guarded_connection* c);
  /// Notes that `c` speaks for `node`; false if another open connection already does (CAF would
  /// keep the first and take the second's messages as from no node, or a forger's as the first's).
  bool claim(guarded_connection* c, const caf::node_id& node);
  void forget(guarded_connection* c);
  /// Closes the connections that are past their handshake deadline.
  void sweep();
  /// The listening socket `fd` reports a connection but no descriptor is left: takes the
  /// connection with the spare descriptor and closes it, so that the acceptor does not spin.
  void shed(native_socket fd);
  /// A warning through the log, at most one a second per `kind` (the rest are counted).
  void warn(const std::string& kind, const std::string& text);

private:
  struct entry {
    std::string peer;
    std::chrono::steady_clock::time_point since;
    bool handshaken = false;
    caf::node_id node;
  };
  mutable std::mutex mtx_; ///< limits and log
  connection_limits limits_;
  connection_log log_;
  std::atomic<size_t> max_handshake_bytes_;
  std::atomic<size_t> max_message_bytes_;
  std::map<guarded_connection*, entry> connections_;
  std::map<std::string, size_t> per_peer_;
  struct warning {
    std::chrono::steady_clock::time_point last;
    size_t suppressed = 0;
  };
  std::map<std::string, warning> warnings_;
  int spare_fd_ = -1;
};

/// A scribe (one connection) that holds BASP to its bounds: the first message must be the
/// handshake, no message may announce more than the limit of its phase, and a big message is
/// collected in parts of 64 KiB as they arrive instead of in one buffer of the announced size. An
/// accepted connection speaks only in its own name (peer_frames.hpp). `Policy` reads and writes
/// the socket (CAF's tcp, or fleetd's TLS adapter).
template <class Policy>
class guarded_scribe final : public caf::io::scribe, public guarded_connection {
public:
  static constexpr size_t header_bytes = 32;  ///< BASP 0.17: op, 2 pad, flags, length, 3 ids
  static constexpr size_t part_bytes = 64 * 1024;

  template <class... Ts>
  guarded_scribe(default_multiplexer& mpx, native_socket fd, std::shared_ptr<guard_state> guard, bool accepted,
                 std::string peer, Ts&&... xs)
    : scribe(caf::io::network::conn_hdl_from_socket(fd)), stream_(mpx, fd, std::forward<Ts>(xs)...),
      guard_(std::move(guard)), accepted_(accepted), peer_(std::move(peer)) {
    if (accepted_) {
      guard_->admit(this, peer_);
      auto& sys = mpx.system();
      auto id_of = [](const caf::strong_actor_ptr& a) { return a ? uint64_t{a->id()} : uint64_t{0}; };
      frames_.emplace(sys.node(), id_of(sys.config_serv()), id_of(sys.spawn_serv()));
    }
  }

  ~guarded_scribe() override {
    if (accepted_)
      guard_->forget(this);
  }

  void configure_read(caf::io::receive_policy::config config) override {
    if (config.first == caf::io::receive_policy_flag::exactly && config.second > part_bytes) {
      wanted_ = config.second;
      parts_.clear();
      next_part();
    } else {
      wanted_ = 0;
      stream_.configure_read(config);
    }
    if (!launched_) {
      launched_ = true;
      stream_.start(this);
      Policy::after_start(stream_, this);
    }
  }

  bool consume(caf::execution_unit* ctx, const void* buf, size_t n) override {
    if (detached())
      return false;
    if (wanted_ > 0)
      return collect(ctx, n);
    if (expect_header_ && n == header_bytes) {
      header_ = frame_header::read(rd_buf().data());
      if (auto why = check_header(header_)) {
        refuse(why->first, why->second);
        return false;
      }
      expect_header_ = header_.length == 0;
      auto ok = scribe::consume(ctx, buf, n);
      if (ok && header_.length == 0)
        message_done();
      return ok;
    }
    expect_header_ = true;
    if (auto why = check_payload(ctx, static_cast<const char*>(buf), n)) {
      refuse(why->first, why->second);
      return false;
    }
    auto ok = scribe::consume(ctx, buf, n);
    if (ok)
      message_done();
    return ok;
  }

  void refuse(const std::string& kind, const std::string& why) override {
    guard_->warn(kind, "closing connection " + describe() + ": " + why);
    io_failure(&stream_.backend(), caf::io::network::operation::read);
  }

  caf::ref_counted& counted() override { return *this; }

  void ack_writes(bool enable) override { stream_.ack_writes(enable); }
  std::vector<char>& wr_buf() override { return stream_.wr_buf(); }
  std::vector<char>& rd_buf() override { return stream_.rd_buf(); }
  void flush() override { stream_.flush(this); }
  void add_to_loop() override { stream_.activate(this); }
  void remove_from_loop() override { stream_.passivate(); }

  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }

  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string{};
  }

  uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }

private:
  /// Why the header is refused (the kind for the log's rate limit, and the whole reason), or nothing.
  std::optional<std::pair<std::string, std::string>> check_header(const frame_header& h) const {
    // The side that accepted hears the client's handshake first, the other the server's.
    auto handshake_op = accepted_ ? basp_op::client_handshake : basp_op::server_handshake;
    if (!handshaken_ && h.op != handshake_op)
      return std::make_pair("early message", "sent message type " + std::to_string(h.op) + " before the handshake");
    auto length = h.length;
    auto bound = handshaken_ ? guard_->max_message_bytes() : guard_->max_handshake_bytes();
    if (length > bound)
      return std::make_pair("oversized message",
                            "announced a message of " + std::to_string(length) + " bytes, more than the limit of "
                              + std::to_string(bound)
                              + (handshaken_ ? " (fleet.max-message-size)" : " before a handshake"));
    if (handshaken_ && frames_)
      return forged(frames_->refuse_header(h));
    return std::nullopt;
  }

  /// Why the payload of the message whose header came last is refused, or nothing.
  std::optional<std::pair<std::string, std::string>> check_payload(caf::execution_unit* ctx, const char* data,
                                                                   size_t n) {
    if (!frames_)
      return std::nullopt;
    if (handshaken_)
      return forged(frames_->refuse_payload(ctx, header_, data, n));
    if (auto why = frames_->handshake(ctx, data, n))
      return forged(why);
    if (!guard_->claim(this, frames_->peer()))
      return forged("sent a handshake in the name of a node another open connection speaks for ("
                    + caf::to_string(frames_->peer()) + ")");
    return std::nullopt;
  }

  /// A refusal of peer_frames, rate-limited in the log by its text up to the node it names.
  static std::optional<std::pair<std::string, std::string>> forged(std::optional<std::string> why) {
    if (!why)
      return std::nullopt;
    return std::make_pair(why->substr(0, why->find(" (")), *why);
  }

  bool collect(caf::execution_unit* ctx, size_t n) {
    auto& part = stream_.rd_buf();
    parts_.insert(parts_.end(), part.begin(), part.begin() + static_cast<std::ptrdiff_t>(n));
    if (parts_.size() < wanted_) {
      next_part();
      return true;
    }
    auto total = wanted_;
    wanted_ = 0;
    expect_header_ = true;
    // The whole message takes the stream's buffer for the broker to read, then gives it back.
    std::swap(parts_, stream_.rd_buf());
    if (auto why = check_payload(ctx, stream_.rd_buf().data(), total)) {
      std::swap(parts_, stream_.rd_buf());
      refuse(why->first, why->second);
      return false;
    }
    auto ok = scribe::consume(ctx, nullptr, total);
    std::swap(parts_, stream_.rd_buf());
    std::vector<char>{}.swap(parts_);
    if (ok)
      message_done();
    return ok;
  }

  void next_part() {
    stream_.configure_read(caf::io::receive_policy::at_most(std::min(part_bytes, wanted_ - parts_.size())));
  }

  void message_done() {
    if (!handshaken_) {
      handshaken_ = true;
      if (accepted_)
        guard_->handshaken(this);
    }
  }

  std::string describe() const {
    return (accepted_ ? "from " : "to ") + (peer_.empty() ? std::string{"?"} : peer_);
  }

  caf::io::network::stream_impl<Policy> stream_;
  std::shared_ptr<guard_state> guard_;
  bool accepted_;
  std::string peer_;
  bool launched_ = false;
  bool expect_header_ = true;
  bool handshaken_ = false;
  size_t wanted_ = 0; ///< the size of the big message being collected, 0 for none
  std::vector<char> parts_;
  frame_header header_;               ///< of the message whose payload comes next
  std::optional<peer_frames> frames_; ///< for an accepted connection
};

/// Accepts with a bound: a connection over the limits is closed at once, and running out of
/// descriptors sheds the connection instead of leaving the listening socket readable forever.
class guarded_acceptor final : public caf::io::network::acceptor {
public:
  guarded_acceptor(default_multiplexer& mpx, native_socket fd, std::shared_ptr<guard_state> guard)
    : acceptor(mpx, fd), policy_{std::move(guard)} {}

  void handle_event(caf::io::network::operation op) override { handle_event_impl(op, policy_); }

private:
  struct accept_policy {
    std::shared_ptr<guard_state> guard;
    bool try_accept(native_socket& result, native_socket fd);
  };
  accept_policy policy_;
};

/// A listening socket: hands each accepted connection to `make_scribe(fd, peer)`.
template <class MakeScribe>
class guarded_doorman final : public caf::io::doorman {
public:
  guarded_doorman(default_multiplexer& mpx, native_socket fd, std::shared_ptr<guard_state> guard,
                  MakeScribe make_scribe)
    : doorman(caf::io::network::accept_hdl_from_socket(fd)), acceptor_(mpx, fd, guard), guard_(std::move(guard)),
      make_scribe_(std::move(make_scribe)) {}

  bool new_connection() override {
    if (detached())
      return false;
    auto fd = acceptor_.accepted_socket();
    auto peer = caf::io::network::remote_addr_of_fd(fd);
    auto address = peer ? *peer : std::string{"?"};
    if (auto why = guard_->refusal(address)) {
      caf::io::network::close_socket(fd);
      guard_->warn("connection limit", "refused a connection from " + address + ": " + *why);
      return true;
    }
    auto& mpx = acceptor_.backend();
    caf::io::scribe_ptr scribe = make_scribe_(mpx, fd, address);
    if (!scribe) {
      caf::io::network::close_socket(fd);
      return true;
    }
    auto hdl = scribe->hdl();
    parent()->add_scribe(std::move(scribe));
    return doorman::new_connection(&mpx, hdl);
  }

  void graceful_shutdown() override {
    acceptor_.graceful_shutdown();
    detach(&acceptor_.backend(), false);
  }

  void launch() override { acceptor_.start(this); }
  void add_to_loop() override { acceptor_.activate(this); }
  void remove_from_loop() override { acceptor_.passivate(); }

  std::string addr() const override {
    auto x = caf::io::network::local_addr_of_fd(acceptor_.fd());
    return x ? *x : std::string{};
  }

  uint16_t port() const override {
    auto x = caf::io::network::local_port_of_fd(acceptor_.fd());
    return x ? *x : 0;
  }

private:
  guarded_acceptor acceptor_;
  std::shared_ptr<guard_state> guard_;
  MakeScribe make_scribe_;
};

/// CAF's plain TCP as a guarded scribe policy.
struct plain_tcp : caf::policy::tcp {
  template <class Stream, class Manager>
  static void after_start(Stream&, Manager*) {}
};

/// The middleman's backend: CAF's multiplexer with guarded servants, and a thread that asks it
/// to close connections past their handshake deadline. Load it with
/// `cfg.load<caf::io::middleman, fleet::net::guarded_multiplexer>()`.
class guarded_multiplexer final : public default_multiplexer {
public:
  explicit guarded_multiplexer(caf::actor_system* sys);
  ~guarded_multiplexer() override;

  caf::io::scribe_ptr new_scribe(native_socket fd) override;
  caf::expected<caf::io::scribe_ptr> new_tcp_scribe(const std::string& host, uint16_t port) override;
  caf::io::doorman_ptr new_doorman(native_socket fd) override;

  const std::shared_ptr<guard_state>& guard() const { return guard_; }

private:
  std::shared_ptr<guard_state> guard_;
  std::mutex sweeper_mtx_;
  std::condition_variable sweeper_cv_;
  bool stopping_ = false;
  std::thread sweeper_;
};

/// A TCP connection to host:port within `timeout_ms` (CAF's own connect blocks for as long as the
/// kernel tries).
caf::expected<native_socket> connect_tcp(const std::string& host, uint16_t port, int64_t timeout_ms);

} // namespace fleet::net
