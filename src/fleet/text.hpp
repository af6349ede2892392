#pragma once

// Text that crosses fleetd's borders: program output, ids, errors. Stored and sent text must be
// UTF-8 (JSON requires it); text shown to people must not drive their terminal or forge log lines.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fleet {

/// Whether `s` is well-formed UTF-8: no overlong forms, surrogates, or code points past U+10FFFF.
bool is_utf8(std::string_view s);

/// The byte length of the well-formed UTF-8 character at `s[i]`, or 0 if none starts there.
size_t utf8_char_length(std::string_view s, size_t i);

/// `s` with every byte that starts no well-formed character replaced by U+FFFD. `replaced`, when
/// given, tells whether anything was.
std::string to_utf8(std::string_view s, bool* replaced = nullptr);

/// The last `max` bytes of `s` at most, starting at a character boundary: a character cut by the
/// limit is dropped whole rather than split.
std::string_view utf8_tail(std::string_view s, size_t max);

/// The first `max` bytes of `s` at most, ending at a character boundary.
std::string_view utf8_head(std::string_view s, size_t max);

/// `s` for a terminal or a log line: control characters (C0, DEL, C1), line and paragraph
/// separators and bidirectional overrides become escapes (`\n`, `\x1b`, `\u202e`), bytes that are
/// not UTF-8 become `\xff`. Longer than `max` bytes, it is cut and says how long it was.
std::string printable(std::string_view s, size_t max = SIZE_MAX);

/// `s` quoted for an error message that echoes input: printable, and cut to a short prefix.
std::string quoted_input(std::string_view s, size_t max = 64);

} // namespace fleet
