#include "fleet/parse_number.hpp"

#include <cerrno>
#include <cstdlib>

namespace fleet {

caf::optional<int64_t> parse_integer(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  auto x = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0)
    return caf::none;
  return static_cast<int64_t>(x);
}

caf::optional<double> parse_real(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  auto x = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno != 0)
    return caf::none;
  return x;
}

} // namespace fleet
