#include "fleet/text.hpp"

#include <fmt/format.h>

namespace fleet {

namespace {

/// The code point of the well-formed character of `len` bytes at `s[i]`.
uint32_t code_point(std::string_view s, size_t i, size_t len) {
  auto c = static_cast<unsigned char>(s[i]);
  uint32_t cp = len == 1 ? c : c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

/// Characters that move a terminal's cursor or reorder what it shows, besides C0 and DEL.
bool misleading(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F)                         // C1 controls (0x9B is a CSI)
         || cp == 0x2028 || cp == 0x2029                     // line and paragraph separators
         || cp == 0x200E || cp == 0x200F                     // left-to-right and right-to-left marks
         || (cp >= 0x202A && cp <= 0x202E)                   // bidirectional embeddings and overrides
         || (cp >= 0x2066 && cp <= 0x2069);                  // bidirectional isolates
}

constexpr std::string_view replacement = "\xEF\xBF\xBD"; // U+FFFD

} // namespace

size_t utf8_char_length(std::string_view s, size_t i) {
  if (i >= s.size())
    return 0;
  auto c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size())
    return 0;
  for (size_t k = 1; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2)
      return 0;
  static constexpr uint32_t shortest[] = {0, 0, 0x80, 0x800, 0x10000};
  auto cp = code_point(s, i, len);
  if (cp < shortest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0; // overlong, beyond Unicode, or a surrogate
  return len;
}

bool is_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto len = utf8_char_length(s, i);
    if (len == 0)
      return false;
    i += len;
  }
  return true;
}

std::string to_utf8(std::string_view s, bool* replaced) {
  if (replaced != nullptr)
    *replaced = false;
  if (is_utf8(s))
    return std::string{s};
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    auto len = utf8_char_length(s, i);
    if (len == 0) {
      out += replacement;
      if (replaced != nullptr)
        *replaced = true;
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

std::string_view utf8_tail(std::string_view s, size_t max) {
  if (s.size() <= max)
    return s;
  auto start = s.size() - max;
  // At most three continuation bytes belong to a character that begins before the cut.
  for (int k = 0; k < 3 && start < s.size() && (static_cast<unsigned char>(s[start]) >> 6) == 0x2; ++k)
    ++start;
  return s.substr(start);
}

std::string_view utf8_head(std::string_view s, size_t max) {
  if (s.size() <= max)
    return s;
  auto end = max;
  for (int k = 0; k < 3 && end > 0 && (static_cast<unsigned char>(s[end]) >> 6) == 0x2; ++k)
    --end;
  return s.substr(0, end);
}

std::string printable(std::string_view s, size_t max) {
  auto shown = utf8_head(s, max);
  std::string out;
  out.reserve(shown.size());
  for (size_t i = 0; i < shown.size();) {
    auto len = utf8_char_length(shown, i);
    if (len == 0) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(shown[i]));
      ++i;
      continue;
    }
    auto cp = code_point(shown, i, len);
    if (cp == '\n')
      out += "\\n";
    else if (cp == '\r')
      out += "\\r";
    else if (cp == '\t')
      out += "\\t";
    else if (cp < 0x20 || cp == 0x7F)
      out += fmt::format("\\x{:02x}", cp);
    else if (misleading(cp))
      out += fmt::format("\\u{:04x}", cp);
    else
      out.append(shown.substr(i, len));
    i += len;
  }
  if (shown.size() < s.size())
    out += fmt::format("... ({} bytes)", s.size());
  return out;
}

std::string quoted_input(std::string_view s, size_t max) {
  return "\"" + printable(s, max) + "\"";
}

} // namespace fleet
