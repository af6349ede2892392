#include "fleet/cron.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace fleet {

namespace {

struct field_spec {
  const char* name;
  int min;
  int max;
  const char* const* names; ///< names for min.. (months, weekdays), or null
  size_t name_count;
};

constexpr const char* month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* weekday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr std::array<field_spec, 5> fields{{
  {"minute", 0, 59, nullptr, 0},
  {"hour", 0, 23, nullptr, 0},
  {"day-of-month", 1, 31, nullptr, 0},
  {"month", 1, 12, month_names, 12},
  {"day-of-week", 0, 7, weekday_names, 7}, // 7 is Sunday as well
}};

caf::error bad(std::string_view expr, const field_spec& f, const std::string& what) {
  return caf::make_error(errc::invalid_argument,
                         fmt::format("cron expression \"{}\": {} field: {}", expr, f.name, what));
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// A number or (for months and weekdays) a name.
caf::expected<int> value_of(std::string_view expr, const field_spec& f, std::string_view text) {
  if (text.empty())
    return bad(expr, f, "a value is missing");
  if (std::isdigit(static_cast<unsigned char>(text[0]))) {
    int n = 0;
    for (char c : text) {
      if (!std::isdigit(static_cast<unsigned char>(c)))
        return bad(expr, f, fmt::format("\"{}\" is not a number", text));
      n = n * 10 + (c - '0');
      if (n > 1000)
        break;
    }
    if (n < f.min || n > f.max)
      return bad(expr, f, fmt::format("{} is out of range {}-{}", text, f.min, f.max));
    return n;
  }
  auto name = lower(text);
  for (size_t i = 0; i < f.name_count; ++i)
    if (name == f.names[i])
      return f.min + static_cast<int>(i);
  if (f.names == nullptr)
    return bad(expr, f, fmt::format("\"{}\" is not a number", text));
  return bad(expr, f, fmt::format("\"{}\" is neither a number nor a name ({}-{})", text, f.names[0],
                                  f.names[f.name_count - 1]));
}

/// Sets the values of one field's text in `bits` (indexed by value).
template <size_t N>
caf::error parse_field(std::string_view expr, const field_spec& f, std::string_view text, std::bitset<N>& bits) {
  if (text.find_first_of("?#") != std::string_view::npos)
    return bad(expr, f, fmt::format("\"{}\": ?, #, L and W are not supported (numbers, names, ranges, steps and "
                                    "lists are)",
                                    text));
  size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty())
      return bad(expr, f, "an empty list item");
    int step = 1;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
      auto step_text = item.substr(slash + 1);
      if (step_text.empty() || step_text.size() > 4
          || !std::all_of(step_text.begin(), step_text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return bad(expr, f, fmt::format("\"{}\": a step must be a positive number", item));
      step = std::stoi(std::string{step_text});
      if (step == 0)
        return bad(expr, f, fmt::format("\"{}\": a step of 0", item));
      item = item.substr(0, slash);
    }
    int lo = 0;
    int hi = 0;
    bool stepped = step != 1;
    if (item == "*") {
      lo = f.min;
      hi = f.max == 7 ? 6 : f.max; // */n over weekdays counts from Sunday once
    } else {
      auto dash = item.find('-');
      auto first = value_of(expr, f, item.substr(0, dash));
      if (!first)
        return first.error();
      lo = *first;
      if (dash != std::string_view::npos) {
        auto last = value_of(expr, f, item.substr(dash + 1));
        if (!last)
          return last.error();
        hi = *last;
        if (hi < lo)
          return bad(expr, f, fmt::format("\"{}\": a range must not run backwards", item));
      } else {
        hi = stepped ? (f.max == 7 ? 6 : f.max) : lo; // "a/n": from a to the field's end
      }
    }
    for (int v = lo; v <= hi; v += step)
      bits.set(static_cast<size_t>(f.max == 7 && v == 7 ? 0 : v));
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
  return caf::none;
}

constexpr int max_days_in(int month) {
  constexpr int days[] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return days[month];
}

/// cctz's weekday as cron counts it (0 = Sunday).
int cron_weekday(const cctz::civil_day& d) {
  switch (cctz::get_weekday(d)) {
    case cctz::weekday::sunday: return 0;
    case cctz::weekday::monday: return 1;
    case cctz::weekday::tuesday: return 2;
    case cctz::weekday::wednesday: return 3;
    case cctz::weekday::thursday: return 4;
    case cctz::weekday::friday: return 5;
    case cctz::weekday::saturday: return 6;
  }
  return 0;
}

/// How far back a zone's clock may ever be set (a repeated period): the search for the next slot
/// starts this far before `after`'s local time, so that the second occurrence of a repeated slot
/// is not passed over. Modern rules move clocks by at most two hours.
constexpr int max_backward_minutes = 180;

} // namespace

caf::expected<cron_expr> cron_expr::parse(std::string_view text) {
  auto trimmed = text;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front())))
    trimmed.remove_prefix(1);
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back())))
    trimmed.remove_suffix(1);
  if (trimmed.size() > 256)
    return caf::make_error(errc::invalid_argument, "a cron expression of more than 256 characters");
  std::string expanded{trimmed};
  if (!trimmed.empty() && trimmed.front() == '@') {
    static const std::pair<const char*, const char*> macros[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"},
    };
    auto name = lower(trimmed);
    auto found = std::find_if(std::begin(macros), std::end(macros), [&](auto& m) { return name == m.first; });
    if (found == std::end(macros))
      return caf::make_error(errc::invalid_argument,
                             fmt::format("cron expression \"{}\": unknown macro (@yearly, @annually, @monthly, "
                                         "@weekly, @daily, @midnight and @hourly are known; @reboot is not a time)",
                                         trimmed));
    expanded = found->second;
  }
  std::vector<std::string_view> parts;
  std::string_view rest = expanded;
  while (!rest.empty()) {
    auto end = std::find_if(rest.begin(), rest.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
    auto n = static_cast<size_t>(end - rest.begin());
    if (n > 0)
      parts.push_back(rest.substr(0, n));
    rest.remove_prefix(n);
    while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front())))
      rest.remove_prefix(1);
  }
  if (parts.size() != 5)
    return caf::make_error(errc::invalid_argument,
                           fmt::format("cron expression \"{}\": {} fields, expected 5 (minute hour day-of-month "
                                       "month day-of-week)",
                                       trimmed, parts.size()));
  cron_expr x;
  if (auto err = parse_field(trimmed, fields[0], parts[0], x.minutes_))
    return err;
  if (auto err = parse_field(trimmed, fields[1], parts[1], x.hours_))
    return err;
  if (auto err = parse_field(trimmed, fields[2], parts[2], x.days_))
    return err;
  if (auto err = parse_field(trimmed, fields[3], parts[3], x.months_))
    return err;
  if (auto err = parse_field(trimmed, fields[4], parts[4], x.weekdays_))
    return err;
  x.day_star_ = parts[2].front() == '*';
  x.weekday_star_ = parts[4].front() == '*';
  x.fixed_time_ = parts[0].front() != '*' && parts[1].front() != '*';
  // With both day fields restricted either may match, and every weekday comes in every month; a
  // day of the month alone may name a day no month it allows has.
  if (x.weekday_star_) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m)
      for (int d = 1; d <= max_days_in(m) && !possible; ++d)
        possible = x.months_.test(static_cast<size_t>(m)) && x.days_.test(static_cast<size_t>(d));
    if (!possible)
      return caf::make_error(errc::invalid_argument,
                             fmt::format("cron expression \"{}\" never fires: no month it names has such a day",
                                         trimmed));
  }
  x.text_ = fmt::format("{} {} {} {} {}", parts[0], parts[1], parts[2], parts[3], parts[4]);
  return x;
}

bool cron_expr::day_matches(const cctz::civil_day& d) const {
  bool by_day = days_.test(static_cast<size_t>(d.day()));
  bool by_weekday = weekdays_.test(static_cast<size_t>(cron_weekday(d)));
  if (day_star_ || weekday_star_)
    return by_day && by_weekday;
  return by_day || by_weekday;
}

bool cron_expr::matches(const cctz::civil_minute& m) const {
  return months_.test(static_cast<size_t>(m.month())) && day_matches(cctz::civil_day{m})
         && hours_.test(static_cast<size_t>(m.hour())) && minutes_.test(static_cast<size_t>(m.minute()));
}

std::optional<cctz::civil_minute> cron_expr::next_match(cctz::civil_minute m, cctz::civil_minute limit) const {
  while (m < limit) {
    if (!months_.test(static_cast<size_t>(m.month()))) {
      m = cctz::civil_minute{cctz::civil_month{m} + 1};
      continue;
    }
    if (!day_matches(cctz::civil_day{m})) {
      m = cctz::civil_minute{cctz::civil_day{m} + 1};
      continue;
    }
    if (!hours_.test(static_cast<size_t>(m.hour()))) {
      m = cctz::civil_minute{cctz::civil_hour{m} + 1};
      continue;
    }
    if (!minutes_.test(static_cast<size_t>(m.minute()))) {
      m += 1;
      continue;
    }
    return m;
  }
  return std::nullopt;
}

std::optional<int64_t> cron_expr::next_after(int64_t after_ms, const cctz::time_zone& zone) const {
  using seconds_point = cctz::time_point<cctz::seconds>;
  auto after_s = after_ms >= 0 ? after_ms / 1000 : -((-after_ms + 999) / 1000);
  auto after_local = cctz::convert(seconds_point{cctz::seconds{after_s}}, zone);
  auto from = cctz::civil_minute{after_local} - max_backward_minutes;
  auto limit = cctz::civil_minute{cctz::civil_year{after_local} + 10};
  std::optional<int64_t> best;
  std::optional<cctz::civil_minute> best_minute;
  for (auto m = next_match(from, limit); m; m = next_match(*m + 1, limit)) {
    // Local times after the best one's by more than any clock change cannot come sooner.
    if (best_minute && *m - *best_minute > 2 * max_backward_minutes)
      break;
    auto found = zone.lookup(cctz::civil_second{*m});
    int64_t candidates[2];
    size_t n = 0;
    switch (found.kind) {
      case cctz::time_zone::civil_lookup::UNIQUE:
        candidates[n++] = found.pre.time_since_epoch().count();
        break;
      case cctz::time_zone::civil_lookup::SKIPPED:
        if (fixed_time_)
          candidates[n++] = found.trans.time_since_epoch().count();
        break;
      case cctz::time_zone::civil_lookup::REPEATED:
        candidates[n++] = found.pre.time_since_epoch().count();
        if (!fixed_time_)
          candidates[n++] = found.post.time_since_epoch().count();
        break;
    }
    for (size_t i = 0; i < n; ++i) {
      auto at_ms = candidates[i] * 1000;
      if (at_ms > after_ms && (!best || at_ms < *best)) {
        best = at_ms;
        best_minute = *m;
      }
    }
  }
  return best;
}

caf::expected<cctz::time_zone> load_zone(const std::string& name) {
  auto refuse = [&](const char* why) {
    return caf::make_error(errc::invalid_argument,
                           fmt::format("time zone \"{}\": {} (an IANA name such as Europe/Berlin or UTC)", name, why));
  };
  if (name.empty() || name.size() > 64)
    return refuse("not a time zone name");
  if (name.front() == '/' || name.find("..") != std::string::npos
      || !std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+';
         }))
    return refuse("not a time zone name");
  cctz::time_zone zone;
  if (!cctz::load_time_zone(name, &zone))
    return refuse("unknown here (is tzdata installed?)");
  return zone;
}

} // namespace fleet
