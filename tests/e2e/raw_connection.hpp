#pragma once

// A client of fleetd's ports that writes and reads bytes by hand: slow, odd or hostile peers.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace fleet::test {

/// A raw TCP connection to one of fleetd's ports on the loopback.
class raw_connection {
public:
  explicit raw_connection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~raw_connection() { ::close(fd_); }
  raw_connection(const raw_connection&) = delete;

  void send(const std::string& bytes) { CHECK(try_send(bytes)); }
  /// False once the peer closed the connection.
  bool try_send(const std::string& bytes) { return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) >= 0; }

  /// Exactly `n` bytes within `seconds`, or nothing if the peer closed or took longer.
  std::optional<std::string> read_exactly(size_t n, int seconds = 10) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      char buf[4096];
      auto got = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (got <= 0)
        return std::nullopt;
      out.append(buf, static_cast<size_t>(got));
    }
    if (out.size() < n)
      return std::nullopt;
    return out;
  }

  /// The bytes of one read within `seconds`, or nothing if the peer closed or took longer.
  std::optional<std::string> read_some(int seconds = 10) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, seconds * 1000) != 1)
      return std::nullopt;
    char buf[4096];
    auto got = ::recv(fd_, buf, sizeof buf, 0);
    if (got <= 0)
      return std::nullopt;
    return std::string(buf, static_cast<size_t>(got));
  }

  /// Reads (and drops) what arrives until the peer closes; true if it closed within `seconds`.
  bool closed_within(int seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        return true;
    }
    return false;
  }

private:
  int fd_ = -1;
};

} // namespace fleet::test
