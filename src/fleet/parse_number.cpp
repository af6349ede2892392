#include "fleet/parse_number.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace fleet {

namespace {

bool digits(const std::string& text, size_t& i) {
  auto start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9')
    ++i;
  return i > start;
}

} // namespace

caf::optional<int64_t> parse_integer(const std::string& text) {
  size_t i = !text.empty() && text[0] == '-' ? 1 : 0;
  if (!digits(text, i) || i != text.size())
    return caf::none;
  errno = 0;
  auto x = std::strtoll(text.c_str(), nullptr, 10);
  if (errno != 0)
    return caf::none;
  return static_cast<int64_t>(x);
}

caf::optional<double> parse_real(const std::string& text) {
  size_t i = !text.empty() && text[0] == '-' ? 1 : 0;
  auto whole = digits(text, i);
  auto fraction = false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    fraction = digits(text, i);
  }
  if (!whole && !fraction)
    return caf::none;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-'))
      ++i;
    if (!digits(text, i))
      return caf::none;
  }
  if (i != text.size())
    return caf::none;
  errno = 0;
  auto x = std::strtod(text.c_str(), nullptr);
  if (errno != 0 || !std::isfinite(x))
    return caf::none;
  return x;
}

} // namespace fleet
