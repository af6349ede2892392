#pragma once

#include <caf/optional.hpp>

#include <cstdint>
#include <string>

namespace fleet {

/// `text` as a whole base-10 integer (strtoll's syntax): none if it is empty, has anything after
/// the number, or overflows.
caf::optional<int64_t> parse_integer(const std::string& text);

/// `text` as a whole real number (strtod's syntax): none if it is empty, has anything after the
/// number, or is out of range.
caf::optional<double> parse_real(const std::string& text);

} // namespace fleet
