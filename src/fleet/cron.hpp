#pragma once

// Cron expressions (5 fields, as crontab(5) of Vixie cron and cronie) and the time zones they are
// read in. Debian has no C++ cron library; the zone rules come from cctz (libcctz-dev) and the
// system's tzdata.

#include <caf/expected.hpp>
#include <cctz/civil_time.h>
#include <cctz/time_zone.h>

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fleet {

/// "minute hour day-of-month month day-of-week", each field `*`, a number, a range `a-b`, a step
/// (`*/n`, `a-b/n`, `a/n`: from a to the field's end), or a comma list of those; months and days
/// may be named (`jan`, `mon-fri`), Sunday is 0 or 7. `@yearly` (`@annually`), `@monthly`,
/// `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for their expressions. As in cron, a day
/// matches when both day fields match, or, when neither day field starts with `*`, when either
/// does ("0 0 1 * mon" runs on the 1st and on Mondays).
///
/// Daylight saving time, as Vixie cron handles it: a slot whose local time falls in a gap (the
/// clock jumps forward) runs at the first instant after the gap if the expression names its hour
/// and minute ("30 2 * * *" runs once that day, at 03:00), and does not exist otherwise ("*/15 * *
/// * *" has no 02:15 that day). A slot whose local time happens twice (the clock goes back) runs
/// at its first occurrence if the expression names its hour and minute, and at both otherwise (an
/// hourly schedule keeps running hourly).
class cron_expr {
public:
  /// The expression, or errc::invalid_argument naming the field and what is wrong with it.
  static caf::expected<cron_expr> parse(std::string_view text);

  /// The first slot strictly after `after_ms` (ms since the epoch) in `zone`, in ms since the
  /// epoch (whole minutes of local time); none within the next ten years.
  std::optional<int64_t> next_after(int64_t after_ms, const cctz::time_zone& zone) const;

  /// Whether the local minute `m` is one of the expression's.
  bool matches(const cctz::civil_minute& m) const;

  /// The expression as parsed (macros expanded), fields separated by one space.
  const std::string& text() const { return text_; }

private:
  bool day_matches(const cctz::civil_day& d) const;
  /// The first matching local minute at or after `from`, before `limit`.
  std::optional<cctz::civil_minute> next_match(cctz::civil_minute from, cctz::civil_minute limit) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;   ///< 1..31
  std::bitset<13> months_; ///< 1..12
  std::bitset<7> weekdays_; ///< 0 = Sunday
  bool day_star_ = false;     ///< the day-of-month field starts with '*'
  bool weekday_star_ = false; ///< the day-of-week field starts with '*'
  bool fixed_time_ = false;   ///< neither minute nor hour starts with '*' (see the DST rules)
  std::string text_;
};

/// An IANA time zone ("Europe/Berlin", "UTC") from the system's tzdata; errc::invalid_argument for
/// a name that is not one (paths and relative names included: only the database's names load).
caf::expected<cctz::time_zone> load_zone(const std::string& name);

} // namespace fleet
