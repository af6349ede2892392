#include "web/gated_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include <algorithm>

namespace fleet {

namespace {

/// Runs each accepted connection at once on the listening thread: the gate returns at once.
struct inline_queue final : httplib::TaskQueue {
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

/// A connection whose reads and writes all end by one deadline, however slowly the peer goes, and
/// whose reads end after the request's own bytes. Plain TCP, or TLS (a non-blocking socket, and
/// what the gate decrypted already).
class deadline_stream final : public httplib::Stream {
public:
  explicit deadline_stream(http_gate::connection& c)
    : fd_(c.fd), ssl_(c.ssl), decrypted_(c.decrypted), deadline_(c.deadline), left_(c.request_bytes) {}

  bool is_readable() const override {
    if (decrypted_pos_ < decrypted_.size() || (ssl_ != nullptr && SSL_pending(ssl_) > 0))
      return true;
    return wait_for(POLLIN);
  }
  bool is_writable() const override { return wait_for(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (left_ == 0)
      return 0; // the request ends here: no body, or no more of it
    size = std::min(size, left_);
    ssize_t n = 0;
    if (decrypted_pos_ < decrypted_.size()) {
      n = static_cast<ssize_t>(std::min(size, decrypted_.size() - decrypted_pos_));
      std::memcpy(ptr, decrypted_.data() + decrypted_pos_, static_cast<size_t>(n));
      decrypted_pos_ += static_cast<size_t>(n);
    } else if (ssl_ != nullptr) {
      n = tls_io([&] { return SSL_read(ssl_, ptr, static_cast<int>(std::min<size_t>(size, INT_MAX))); });
    } else {
      if (!wait_for(POLLIN))
        return -1;
      n = ::recv(fd_, ptr, size, 0);
    }
    if (n > 0 && left_ != SIZE_MAX)
      left_ -= static_cast<size_t>(n);
    if (n > 0)
      moved();
    return n;
  }

  /// From now on the deadline is `idle` after the last byte that moved (a stream, an upload).
  void keep_open_while_active(std::chrono::milliseconds idle) {
    idle_ = idle;
    moved();
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (ssl_ != nullptr) {
      if (size == 0)
        return 0;
      // Without partial writes, SSL_write sends all of it or asks to be called again alike.
      auto n = tls_io([&] { return SSL_write(ssl_, ptr, static_cast<int>(std::min<size_t>(size, INT_MAX))); });
      if (n > 0)
        moved();
      return n;
    }
    size_t sent = 0;
    while (sent < size) {
      if (!wait_for(POLLOUT))
        return -1;
      auto n = ::send(fd_, ptr + sent, size - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
          continue;
        return -1;
      }
      sent += static_cast<size_t>(n);
      moved();
    }
    return static_cast<ssize_t>(sent);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(::getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(::getsockname, ip, port); }
  socket_t socket() const override { return fd_; }

private:
  /// An SSL call, repeated while it waits for the socket and the deadline allows.
  template <class Call>
  ssize_t tls_io(Call call) {
    for (;;) {
      auto rc = call();
      if (rc > 0)
        return rc;
      auto e = SSL_get_error(ssl_, rc);
      if (e == SSL_ERROR_WANT_READ && wait_for(POLLIN))
        continue;
      if (e == SSL_ERROR_WANT_WRITE && wait_for(POLLOUT))
        continue;
      return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
  }

  void moved() {
    if (idle_.count() > 0)
      deadline_ = http_gate::clock::now() + idle_;
  }

  bool wait_for(short events) const {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - http_gate::clock::now());
      if (left.count() <= 0)
        return false;
      pollfd p{fd_, events, 0};
      auto rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (rc > 0)
        return true;
      if (rc < 0 && errno != EINTR)
        return false;
    }
  }

  template <class Get>
  void address(Get get, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ip.clear();
    port = 0;
    if (get(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return;
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
      port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      port = ntohs(a->sin6_port);
    }
    ip = text;
  }

  int fd_;
  SSL* ssl_;
  const std::string& decrypted_;
  size_t decrypted_pos_ = 0;
  http_gate::clock::time_point deadline_;
  size_t left_;
  std::chrono::milliseconds idle_{0};
};

thread_local deadline_stream* current_stream = nullptr;

} // namespace

void gated_server::keep_open_while_active(std::chrono::milliseconds idle) {
  if (current_stream != nullptr)
    current_stream->keep_open_while_active(idle);
}

gated_server::gated_server(http_gate::options opts, std::function<void(const std::string&)> on_refused) {
  new_task_queue = [] { return new inline_queue; };
  gate_ = std::make_unique<http_gate>(
    opts,
    [this](http_gate::connection& c) { serve(c); },
    std::move(on_refused));
}

gated_server::~gated_server() {
  gate_.reset(); // its threads call into this server: they end first
}

bool gated_server::process_and_close_socket(socket_t sock) {
  gate_->admit(sock);
  return true;
}

void gated_server::serve(http_gate::connection& c) {
  deadline_stream stream{c};
  bool closed = false;
  current_stream = &stream;
  // One request per connection: a kept-alive connection would hold its thread while idle.
  process_request(stream, true, closed, nullptr);
  current_stream = nullptr;
  http_gate::close_connection(c);
}

} // namespace fleet
