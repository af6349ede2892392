#include "client/guarded_io.hpp"

#include "fleetd/error.hpp"

#include <caf/actor_system.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace fleet::net {

namespace {

constexpr auto sweep_interval = std::chrono::milliseconds(250);

} // namespace

// -- guard_state ----------------------------------------------------------------

guard_state::guard_state()
  : max_handshake_bytes_(connection_limits{}.max_handshake_bytes),
    max_message_bytes_(connection_limits{}.max_message_bytes) {
  // Kept for the moment descriptors run out: closing it makes room to accept and drop one
  // connection, instead of leaving it pending (and the listening socket readable) forever.
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

guard_state::~guard_state() {
  if (spare_fd_ >= 0)
    ::close(spare_fd_);
}

void guard_state::configure(const connection_limits& limits, connection_log log) {
  std::lock_guard<std::mutex> guard{mtx_};
  limits_ = limits;
  log_ = std::move(log);
  max_handshake_bytes_ = limits.max_handshake_bytes;
  max_message_bytes_ = limits.max_message_bytes;
}

void guard_state::set_connect_timeout(int64_t ms) {
  std::lock_guard<std::mutex> guard{mtx_};
  limits_.connect_timeout_ms = ms;
}

connection_limits guard_state::limits() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return limits_;
}

std::optional<std::string> guard_state::refusal(const std::string& peer) const {
  auto l = limits();
  if (connections_.size() >= l.max_connections)
    return fmt::format("{} connections are open, the limit (fleet.max-connections)", connections_.size());
  auto i = per_peer_.find(peer);
  if (i != per_peer_.end() && i->second >= l.max_connections_per_peer)
    return fmt::format("{} connections from that address are open, the limit (fleet.max-connections-per-peer)",
                       i->second);
  return std::nullopt;
}

void guard_state::admit(guarded_connection* c, const std::string& peer) {
  connections_[c] = entry{peer, std::chrono::steady_clock::now(), false, {}};
  ++per_peer_[peer];
}

void guard_state::handshaken(guarded_connection* c) {
  if (auto i = connections_.find(c); i != connections_.end())
    i->second.handshaken = true;
}

bool guard_state::claim(guarded_connection* c, const caf::node_id& node) {
  for (const auto& [other, e] : connections_)
    if (other != c && e.node == node)
      return false;
  if (auto i = connections_.find(c); i != connections_.end())
    i->second.node = node;
  return true;
}

void guard_state::forget(guarded_connection* c) {
  auto i = connections_.find(c);
  if (i == connections_.end())
    return;
  if (auto p = per_peer_.find(i->second.peer); p != per_peer_.end() && --p->second == 0)
    per_peer_.erase(p);
  connections_.erase(i);
}

void guard_state::sweep() {
  auto timeout = std::chrono::milliseconds(limits().handshake_timeout_ms);
  auto deadline = std::chrono::steady_clock::now() - timeout;
  std::vector<guarded_connection*> late;
  for (const auto& [c, e] : connections_)
    if (!e.handshaken && e.since < deadline)
      late.push_back(c);
  for (auto* c : late) {
    if (connections_.count(c) == 0)
      continue; // closing an earlier one took this one along
    caf::intrusive_ptr<caf::ref_counted> keep{&c->counted()};
    c->refuse("no handshake", fmt::format("no handshake within {} ms (fleet.handshake-timeout)", timeout.count()));
    // Not waiting for the broker to drop it: from now on it counts against no limit.
    forget(c);
  }
}

void guard_state::shed(native_socket fd) {
  if (spare_fd_ >= 0) {
    ::close(spare_fd_);
    auto taken = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (taken >= 0)
      ::close(taken);
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  warn("out of descriptors", "out of file descriptors: a new connection was closed at once (raise the "
                             "process's limit, ulimit -n, or lower fleet.max-connections)");
}

void guard_state::warn(const std::string& kind, const std::string& text) {
  connection_log log;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    log = log_;
  }
  if (!log)
    return;
  auto now = std::chrono::steady_clock::now();
  auto& w = warnings_[kind];
  if (w.last != std::chrono::steady_clock::time_point{} && now - w.last < std::chrono::seconds(1)) {
    ++w.suppressed;
    return;
  }
  auto suppressed = std::exchange(w.suppressed, 0);
  w.last = now;
  log(suppressed == 0 ? text : fmt::format("{} (and {} more like it in the last second)", text, suppressed));
}

// -- guarded_acceptor -----------------------------------------------------------

bool guarded_acceptor::accept_policy::try_accept(native_socket& result, native_socket fd) {
  result = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (result >= 0)
    return true;
  result = caf::io::network::invalid_native_socket;
  if (errno == EMFILE || errno == ENFILE)
    guard->shed(fd);
  // Nothing to accept (another wake-up took it, or the peer gave up): try at the next event.
  return true;
}

// -- guarded_multiplexer --------------------------------------------------------

guarded_multiplexer::guarded_multiplexer(caf::actor_system* sys)
  : default_multiplexer(sys), guard_(std::make_shared<guard_state>()) {
  sweeper_ = std::thread{[this] {
    std::unique_lock<std::mutex> lock{sweeper_mtx_};
    while (!sweeper_cv_.wait_for(lock, sweep_interval, [this] { return stopping_; }))
      post([guard = guard_] { guard->sweep(); });
  }};
}

guarded_multiplexer::~guarded_multiplexer() {
  {
    std::lock_guard<std::mutex> lock{sweeper_mtx_};
    stopping_ = true;
  }
  sweeper_cv_.notify_one();
  sweeper_.join();
}

caf::io::scribe_ptr guarded_multiplexer::new_scribe(native_socket fd) {
  caf::io::network::keepalive(fd, true);
  auto peer = caf::io::network::remote_addr_of_fd(fd);
  return caf::make_counted<guarded_scribe<plain_tcp>>(*this, fd, guard_, false, peer ? *peer : std::string{});
}

caf::expected<caf::io::scribe_ptr> guarded_multiplexer::new_tcp_scribe(const std::string& host, uint16_t port) {
  auto fd = connect_tcp(host, port, guard_->limits().connect_timeout_ms);
  if (!fd)
    return fd.error();
  return new_scribe(*fd);
}

caf::io::doorman_ptr guarded_multiplexer::new_doorman(native_socket fd) {
  auto make = [guard = guard_](default_multiplexer& mpx, native_socket accepted, const std::string& peer) {
    caf::io::network::keepalive(accepted, true);
    return caf::io::scribe_ptr{caf::make_counted<guarded_scribe<plain_tcp>>(mpx, accepted, guard, true, peer)};
  };
  return caf::make_counted<guarded_doorman<decltype(make)>>(*this, fd, guard_, std::move(make));
}

// -- connect_tcp ----------------------------------------------------------------

caf::expected<native_socket> connect_tcp(const std::string& host, uint16_t port, int64_t timeout_ms) {
  auto fail = [&](const std::string& why) {
    return caf::make_error(caf::sec::cannot_connect_to_node, fmt::format("{}:{}: {}", host, port, why));
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (auto rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return fail(gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses{found, ::freeaddrinfo};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last = "no address";
  for (auto* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      return fd;
    if (errno == EINPROGRESS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLOUT, 0};
      int rc = 0;
      while ((rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())))) < 0 && errno == EINTR)
        ;
      int error = 0;
      socklen_t len = sizeof error;
      if (rc == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0)
        return fd;
      last = rc == 0 ? fmt::format("no connection within {} ms", timeout_ms) : std::strerror(error != 0 ? error : errno);
    } else {
      last = std::strerror(errno);
    }
    ::close(fd);
  }
  return fail(last);
}

} // namespace fleet::net
