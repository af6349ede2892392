#pragma once

// BASP written by hand for a raw_connection to fleetd's CAF port, as an attacker would: sizes
// that lie, handshakes that never come, and messages in another node's name.

#include "raw_connection.hpp"

#include <cstdint>
#include <string>

namespace fleet::test {

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
