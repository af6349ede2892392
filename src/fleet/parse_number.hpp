#pragma once

#include <caf/optional.hpp>

#include <cstdint>
#include <string>

namespace fleet {

/// `text` as a whole base-10 integer: an optional '-' and digits, nothing else (no spaces, no '+',
/// no hex); none if it overflows.
caf::optional<int64_t> parse_integer(const std::string& text);

/// `text` as a whole finite decimal number: an optional '-', digits with an optional fraction and
/// exponent ("2", "2.5", ".5", "1e3"); none for anything else, infinity and NaN included (CAF
/// 0.17's serializer loops forever on an infinite double), and none if it overflows.
caf::optional<double> parse_real(const std::string& text);

} // namespace fleet
