#pragma once

// JSON as text: written without ever throwing, measured before it is parsed, and passed on byte
// for byte where parsing and writing it again would change it (big integers).

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fleet {

/// How deeply arrays and objects may nest in task data and results. nlohmann parses without
/// recursion, but writes recursively: 100,000 levels overflow a thread's stack.
inline constexpr size_t max_json_nesting = 1000;

/// `x.dump()` that cannot throw: strings that are not UTF-8 have their bad bytes replaced by
/// U+FFFD instead of raising nlohmann's type_error 316.
std::string dump_json(const nlohmann::json& x);

/// How deeply arrays and objects nest in `text`, counted without parsing (strings are skipped);
/// the count stops once it passes `stop_after`.
size_t json_nesting(std::string_view text, size_t stop_after = max_json_nesting);

/// The text of member `key` of the JSON object `object_text` exactly as written, for text that
/// nlohmann has already accepted as an object; of a repeated key the last (as nlohmann reads it).
std::optional<std::string_view> json_member_text(std::string_view object_text, std::string_view key);

/// Valid JSON text without the blank space between its tokens; numbers and strings unchanged.
std::string json_compact(std::string_view text);

/// The texts of the elements of the JSON array `array_text` exactly as written, for text that
/// nlohmann has already accepted as an array.
std::vector<std::string_view> json_array_items(std::string_view array_text);

/// What went wrong in nlohmann's parse error `what`, without its prefix and without the echo of
/// the input it read ("last read: ..."), which may be huge or not printable; the tail of that
/// echo, made printable and short, follows as "near '...'".
std::string json_syntax_reason(const std::string& what);

} // namespace fleet
