#pragma once

// The bearer tokens of fleetd's HTTP API (fleet.http-tokens-file): one `NAME TOKEN SCOPE` per
// line, scope `read` or `write`. A presented token is compared with every listed one in constant
// time (digests compared with CRYPTO_memcmp), so that neither the time of a refusal nor its
// length tells how much of a guess was right.

#include <caf/expected.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fleet {

enum class api_scope : uint8_t { read, write };

struct api_principal {
  std::string name;
  api_scope scope = api_scope::read;
};

class api_tokens {
public:
  /// Shortest token accepted: guessing must be hopeless.
  static constexpr size_t min_token_length = 16;

  /// Reads and checks a tokens file. Refused with an error naming the line (never the token):
  /// a malformed line, a short token, an unknown scope, a name or token listed twice, no token at
  /// all, or a file that others than its owner and group may read.
  static caf::expected<api_tokens> read_file(const std::string& path);
  /// The same checks on text (tests; `origin` names it in errors).
  static caf::expected<api_tokens> parse(std::string_view text, const std::string& origin);

  /// Whose token `presented` is; nullptr if nobody's. Takes the same time whichever line matches.
  const api_principal* find(std::string_view presented) const;

  size_t size() const { return entries_.size(); }

private:
  struct entry {
    api_principal who;
    std::array<unsigned char, 32> digest;
  };
  std::vector<entry> entries_;
};

} // namespace fleet
