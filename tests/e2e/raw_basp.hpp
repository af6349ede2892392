#pragma once

// A peer of fleetd's CAF port that writes BASP by hand, as an attacker would: sizes that lie,
// handshakes that never come, and messages in another node's name.

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

/// A raw TCP connection to fleetd's CAF port.
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

inline void put_big_endian(std::string& out, size_t at, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i)
    out[at + i] = static_cast<char>(value >> (8 * (bytes - 1 - i)));
}

inline uint64_t get_big_endian(const std::string& in, size_t at, size_t bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes; ++i)
    value = (value << 8) | static_cast<unsigned char>(in[at + i]);
  return value;
}

/// A BASP 0.17 header: op, 2 padding bytes, flags, payload length, operation data, source and
/// destination actor (integers big-endian).
inline std::string basp_header(uint8_t op, uint32_t length, uint64_t source_actor = 0, uint64_t dest_actor = 0) {
  std::string h(32, '\0');
  h[0] = static_cast<char>(op);
  put_big_endian(h, 4, length, 4);
  put_big_endian(h, 16, source_actor, 8);
  put_big_endian(h, 24, dest_actor, 8);
  return h;
}

} // namespace fleet::test
