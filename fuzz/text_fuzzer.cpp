// libFuzzer target: text, time and JSON helpers over any bytes (issues 16, 20). What is made UTF-8 is UTF-8,
// what is made printable holds no control character, a tail is a suffix that starts at a
// character, JSON is written without throwing, and a member found as written parses to the value
// nlohmann read.

#include "fleet/json_text.hpp"
#include "fleet/text.hpp"
#include "fleet/time_text.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (!fleet::is_utf8(fleet::to_utf8(text)))
    std::abort();
  auto shown = fleet::printable(text, 64);
  if (!fleet::is_utf8(shown))
    std::abort();
  for (unsigned char c : shown)
    if (c < 0x20 || c == 0x7f)
      std::abort();
  auto n = size % 17;
  auto tail = fleet::utf8_tail(text, n);
  if (tail.size() > n || text.compare(text.size() - tail.size(), tail.size(), tail) != 0)
    std::abort();
  if (fleet::is_utf8(text) && !fleet::is_utf8(tail))
    std::abort();
  // A time or a duration that parses is written back to text that parses to the same value.
  if (auto at = fleet::parse_rfc3339_ms(text); at && fleet::parse_rfc3339_ms(fleet::format_rfc3339_ms(*at)) != at)
    std::abort();
  if (auto ms = fleet::parse_duration_ms(text); ms && fleet::parse_duration_ms(fleet::format_duration_ms(*ms)) != ms)
    std::abort();
  nlohmann::json wrapped{{"text", text}};
  if (!fleet::is_utf8(fleet::dump_json(wrapped)))
    std::abort();
  if (fleet::json_nesting(text) > fleet::max_json_nesting)
    return 0;
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return 0;
  for (const auto& [key, value] : doc.items()) {
    auto member = fleet::json_member_text(text, key);
    if (!member)
      std::abort();
    auto reread = nlohmann::json::parse(*member, nullptr, false);
    if (reread.is_discarded() || (reread != value && !(value.is_number_float() && value != value)))
      std::abort();
  }
  return 0;
}
