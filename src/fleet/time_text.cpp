#include "fleet/time_text.hpp"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <limits>

namespace fleet {

namespace {

constexpr int64_t max_ms = std::numeric_limits<int64_t>::max();

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  auto era = (y >= 0 ? y : y - 399) / 400;
  auto yoe = y - era * 400;
  auto doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  auto doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct civil {
  int64_t year;
  int64_t month;
  int64_t day;
};

civil civil_from_days(int64_t z) {
  z += 719468;
  auto era = (z >= 0 ? z : z - 146096) / 146097;
  auto doe = z - era * 146097;
  auto yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  auto y = yoe + era * 400;
  auto doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  auto mp = (5 * doy + 2) / 153;
  auto d = doy - (153 * mp + 2) / 5 + 1;
  auto m = mp + (mp < 10 ? 3 : -9);
  return {y + (m <= 2), m, d};
}

int64_t days_in_month(int64_t year, int64_t month) {
  static constexpr std::array<int64_t, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[static_cast<size_t>(month - 1)];
}

/// Exactly `n` digits at `pos` as a number; none if any is not a digit.
std::optional<int64_t> fixed_digits(std::string_view text, size_t pos, size_t n) {
  if (pos + n > text.size())
    return std::nullopt;
  int64_t x = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!is_digit(text[i]))
      return std::nullopt;
    x = x * 10 + (text[i] - '0');
  }
  return x;
}

} // namespace

std::optional<int64_t> parse_duration_ms(std::string_view text) {
  if (text.empty())
    return std::nullopt;
  if (text == "0")
    return 0; // the one number whose unit does not matter
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i]))
      return std::nullopt;
    int64_t n = 0;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      if (n > (max_ms - (text[i] - '0')) / 10)
        return std::nullopt;
      n = n * 10 + (text[i] - '0');
    }
    auto unit_start = i;
    while (i < text.size() && !is_digit(text[i]))
      ++i;
    auto unit = text.substr(unit_start, i - unit_start);
    int64_t scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m" || unit == "min")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else if (unit == "d")
      scale = 86'400'000;
    else if (unit == "w")
      scale = 7 * 86'400'000LL;
    else
      return std::nullopt; // no unit, or one we do not know
    if (n > (max_ms - total) / scale)
      return std::nullopt;
    total += n * scale;
  }
  return total;
}

std::string format_duration_ms(int64_t ms) {
  if (ms <= 0)
    return ms == 0 ? "0s" : fmt::format("{}ms", ms);
  static constexpr std::array<std::pair<int64_t, const char*>, 5> units{
    {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}}};
  std::string out;
  for (auto [scale, name] : units)
    if (ms >= scale) {
      out += fmt::format("{}{}", ms / scale, name);
      ms %= scale;
    }
  return out;
}

std::optional<int64_t> parse_rfc3339_ms(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  auto year = fixed_digits(text, 0, 4);
  auto month = fixed_digits(text, 5, 2);
  auto day = fixed_digits(text, 8, 2);
  auto hour = fixed_digits(text, 11, 2);
  auto minute = fixed_digits(text, 14, 2);
  auto second = fixed_digits(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-'
      || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' || text[16] != ':')
    return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month) || *hour > 23 || *minute > 59
      || *second > 60) // 60: a leap second, counted as the next second as POSIX time does
    return std::nullopt;
  size_t i = 19;
  int64_t millis = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    auto start = i;
    for (; i < text.size() && is_digit(text[i]); ++i)
      if (i - start < 3)
        millis = millis * 10 + (text[i] - '0');
    if (i == start)
      return std::nullopt;
    for (auto n = i - start; n < 3; ++n)
      millis *= 10;
  }
  if (i >= text.size())
    return std::nullopt; // RFC 3339 requires the offset: a local time would be a guess
  int64_t offset_min = 0;
  if (text[i] == 'Z' || text[i] == 'z') {
    ++i;
  } else if (text[i] == '+' || text[i] == '-') {
    auto oh = fixed_digits(text, i + 1, 2);
    auto om = fixed_digits(text, i + 4, 2);
    if (!oh || !om || text[i + 3] != ':' || *oh > 23 || *om > 59)
      return std::nullopt;
    offset_min = (text[i] == '+' ? 1 : -1) * (*oh * 60 + *om);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != text.size())
    return std::nullopt;
  auto days = days_from_civil(*year, *month, *day);
  auto seconds = days * 86'400 + *hour * 3600 + *minute * 60 + *second - offset_min * 60;
  return seconds * 1000 + millis;
}

std::string format_rfc3339_ms(int64_t ms) {
  auto days = ms >= 0 ? ms / 86'400'000 : -((-ms + 86'399'999) / 86'400'000);
  auto rest = ms - days * 86'400'000;
  auto date = civil_from_days(days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", date.year, date.month, date.day,
                     rest / 3'600'000, rest / 60'000 % 60, rest / 1000 % 60, rest % 1000);
}

int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace fleet
