#include "web/gated_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace fleet {

namespace {

/// Runs each accepted connection at once on the listening thread: the gate returns at once.
struct inline_queue final : httplib::TaskQueue {
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

/// A socket whose reads and writes all end by one deadline, however slowly the peer goes, and
/// whose reads end after the request's own bytes.
class deadline_stream final : public httplib::Stream {
public:
  deadline_stream(int fd, http_gate::clock::time_point deadline, size_t request_bytes)
    : fd_(fd), deadline_(deadline), left_(request_bytes) {}

  bool is_readable() const override { return wait_for(POLLIN); }
  bool is_writable() const override { return wait_for(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (left_ == 0)
      return 0; // the request ends here: no body, or no more of it
    if (!wait_for(POLLIN))
      return -1;
    auto n = ::recv(fd_, ptr, std::min(size, left_), 0);
    if (n > 0 && left_ != SIZE_MAX)
      left_ -= static_cast<size_t>(n);
    return n;
  }

  ssize_t write(const char* ptr, size_t size) override {
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
    }
    return static_cast<ssize_t>(sent);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(::getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(::getsockname, ip, port); }
  socket_t socket() const override { return fd_; }

private:
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
  http_gate::clock::time_point deadline_;
  size_t left_;
};

} // namespace

gated_server::gated_server(http_gate::options opts, std::function<void(const std::string&)> on_refused) {
  new_task_queue = [] { return new inline_queue; };
  gate_ = std::make_unique<http_gate>(
    opts,
    [this](int fd, http_gate::clock::time_point deadline, size_t bytes) { serve(fd, deadline, bytes); },
    std::move(on_refused));
}

gated_server::~gated_server() {
  gate_.reset(); // its threads call into this server: they end first
}

bool gated_server::process_and_close_socket(socket_t sock) {
  gate_->admit(sock);
  return true;
}

void gated_server::serve(int fd, http_gate::clock::time_point deadline, size_t request_bytes) {
  deadline_stream stream{fd, deadline, request_bytes};
  bool closed = false;
  // One request per connection: a kept-alive connection would hold its thread while idle.
  process_request(stream, true, closed, nullptr);
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

} // namespace fleet
