#pragma once

// Times and durations as people write them: "10m", "1h30m", "2026-12-24T18:00:00+01:00".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fleet {

/// A duration of one or more <integer><unit> terms ("1500ms", "30s", "10m", "1h30m", "7d", "2w"),
/// in ms. A bare number other than 0 is refused (its unit would be a guess), as are a negative or
/// an overflowing value.
std::optional<int64_t> parse_duration_ms(std::string_view text);

/// `ms` as the shortest exact duration text ("90s" -> "1m30s", 0 -> "0s").
std::string format_duration_ms(int64_t ms);

/// An RFC 3339 time ("2026-12-24T18:00:00Z", "...18:00:00.250+01:00"; 't' or a space for 'T'),
/// in ms since the epoch. Fractions beyond ms are cut; a date that does not exist (February 30)
/// or a time zone offset beyond ±23:59 is refused.
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);

/// `ms` since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string format_rfc3339_ms(int64_t ms);

/// The wall clock now, in ms since the epoch.
int64_t wall_clock_ms();

} // namespace fleet
