#include "fleet/schedule.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"
#include "fleet/task_file.hpp"
#include "fleet/text.hpp"
#include "fleet/time_text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace fleet {

namespace {

caf::error invalid(const std::string& name, const std::string& what) {
  return caf::make_error(errc::invalid_argument, fmt::format("schedule \"{}\": {}", name, what));
}

int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

} // namespace

caf::expected<schedule_timing> schedule_timing::of(const std::string& cron, const std::string& time_zone,
                                                   int64_t every_ms) {
  schedule_timing t;
  if (!cron.empty() && every_ms != 0)
    return caf::make_error(errc::invalid_argument, "a schedule has a cron expression or an interval (every), not both");
  if (cron.empty() && every_ms == 0)
    return caf::make_error(errc::invalid_argument, "a schedule needs a cron expression or an interval (every)");
  if (!cron.empty()) {
    auto expr = cron_expr::parse(cron);
    if (!expr)
      return expr.error();
    t.cron_ = std::move(*expr);
    if (!time_zone.empty()) {
      auto zone = load_zone(time_zone);
      if (!zone)
        return zone.error();
      t.zone_ = *zone;
    }
    return t;
  }
  if (!time_zone.empty())
    return caf::make_error(errc::invalid_argument,
                           "a time zone goes with a cron expression; an interval (every) counts from the Unix epoch");
  if (every_ms < min_schedule_interval_ms)
    return caf::make_error(errc::invalid_argument,
                           fmt::format("an interval (every) of {} ms: the shortest is 1s", every_ms));
  t.every_ms_ = every_ms;
  return t;
}

std::optional<int64_t> schedule_timing::next_after(int64_t after_ms) const {
  if (cron_)
    return cron_->next_after(after_ms, zone_);
  auto k = floor_div(after_ms, every_ms_) + 1;
  if (k > INT64_MAX / every_ms_)
    return std::nullopt;
  return k * every_ms_;
}

std::optional<int64_t> schedule_timing::latest_in(int64_t after_ms, int64_t now_ms) const {
  if (now_ms <= after_ms)
    return std::nullopt;
  if (!cron_) {
    auto slot = floor_div(now_ms, every_ms_) * every_ms_;
    return slot > after_ms ? std::optional<int64_t>{slot} : std::nullopt;
  }
  // Looks back over ever longer windows, so that the walk forward stays short for frequent
  // expressions and rare ones are found at all.
  constexpr int64_t windows[] = {3'600'000, 86'400'000, 32 * int64_t{86'400'000}, 367 * int64_t{86'400'000},
                                 11 * 367 * int64_t{86'400'000}};
  for (auto window : windows) {
    auto start = std::max(after_ms, now_ms - window);
    auto slot = next_after(start);
    if (slot && *slot <= now_ms) {
      for (auto n = next_after(*slot); n && *n <= now_ms; n = next_after(*n))
        slot = n;
      return slot;
    }
    if (start == after_ms)
      break;
  }
  return std::nullopt;
}

int64_t schedule_timing::count_in(int64_t from_ms, int64_t to_ms, int64_t cap) const {
  if (to_ms <= from_ms)
    return 0;
  if (!cron_) {
    auto first = floor_div(from_ms - 1, every_ms_) + 1; // the first multiple >= from
    auto last = floor_div(to_ms - 1, every_ms_);         // the last multiple < to
    return std::min(cap, std::max<int64_t>(0, last - first + 1));
  }
  int64_t n = 0;
  for (auto slot = next_after(from_ms - 1); slot && *slot < to_ms && n < cap; slot = next_after(*slot))
    ++n;
  return n;
}

caf::expected<schedule_timing> validate_schedule(const schedule_spec& spec, const submit_limits& limits) {
  const auto& name = spec.name;
  if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name.front()))
      || !std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
         }))
    return caf::make_error(errc::invalid_argument,
                           fmt::format("schedule name \"{}\": 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
                                       printable(name)));
  auto timing = schedule_timing::of(spec.cron, spec.time_zone, spec.every_ms);
  if (!timing)
    return invalid(name, error_text(timing.error()));
  if (!timing->next_after(0) && !timing->next_after(INT64_C(1'700'000'000'000)))
    return invalid(name, "its timing has no slot");
  if (spec.missed != "skip" && spec.missed != "once")
    return invalid(name, fmt::format("missed = \"{}\": skip or once", printable(spec.missed)));
  if (spec.tasks.empty())
    return invalid(name, "its template has no task");
  auto most = std::min(max_template_tasks, limits.max_tasks_per_batch);
  if (spec.tasks.size() > most)
    return invalid(name, fmt::format("its template has {} tasks, more than a schedule's {} (submit bigger batches)",
                                     spec.tasks.size(), most));
  size_t bytes = 0;
  for (const auto& t : spec.tasks) {
    if (t.run_at != 0)
      return invalid(name, fmt::format("task \"{}\" has run_at, which would be the same time at every firing; "
                                       "use delay_ms (counted from the firing)",
                                       printable(t.id, 80)));
    bytes += t.id.size() + t.type.size() + t.data.size() + 64;
  }
  if (bytes > max_template_bytes)
    return invalid(name, fmt::format("its template holds about {} bytes, more than a schedule's {} KiB", bytes,
                                     max_template_bytes >> 10));
  return timing;
}

slot_plan plan_slots(const schedule_timing& timing, int64_t handled_until, int64_t now, bool run_latest_missed) {
  slot_plan plan;
  plan.handled_until = handled_until;
  auto first = timing.next_after(handled_until);
  if (!first || *first > now) {
    plan.next = first;
    return plan;
  }
  auto latest = *timing.latest_in(handled_until, now); // there is one: `first` is due
  bool fire = now - latest <= schedule_grace_ms || run_latest_missed;
  if (fire)
    plan.fire = latest;
  auto missed_until = fire ? latest : latest + 1; // exclusive
  plan.missed = timing.count_in(*first, missed_until);
  if (plan.missed > 0) {
    plan.missed_first = *first;
    plan.missed_last = fire ? *timing.latest_in(handled_until, latest - 1) : latest;
  }
  plan.handled_until = latest;
  plan.next = timing.next_after(latest);
  return plan;
}

std::string slot_key(const std::string& name, int64_t slot_ms) {
  return fmt::format("schedule:{}@{}", name, format_rfc3339_ms(slot_ms));
}

std::string run_key(const std::string& name, int64_t now_ms) {
  return fmt::format("schedule:{}@run:{}", name, format_rfc3339_ms(now_ms));
}

std::string encode_template(const std::vector<task>& tasks) {
  std::string out = "[";
  for (const auto& t : tasks) {
    if (out.size() > 1)
      out += ",\n";
    // data is valid JSON already (validated on the way in) and goes in as written.
    out += fmt::format("{{\"id\":{},\"type\":{},\"data\":{},\"priority\":{}", dump_json(t.id), dump_json(t.type),
                       t.data, t.priority);
    if (t.delay_ms != 0)
      out += fmt::format(",\"delay_ms\":{}", t.delay_ms);
    if (!t.after.empty())
      out += fmt::format(",\"after\":{}", dump_json(nlohmann::json(t.after)));
    if (!t.queue.empty())
      out += fmt::format(",\"queue\":{}", dump_json(t.queue));
    if (!t.group.empty())
      out += fmt::format(",\"group\":{}", dump_json(t.group));
    out += policy_members_text(t.policy);
    out += "}";
  }
  out += "]";
  return out;
}

caf::expected<std::vector<task>> decode_template(std::string_view json, const std::string& schedule) {
  return parse_task_file(json, fmt::format("the template of schedule \"{}\"", schedule));
}

void write_definition(const schedule_spec& spec, const schedule_timing& timing, schedule_row& into) {
  into.name = spec.name;
  into.cron = timing.cron_text();
  into.time_zone = spec.time_zone;
  into.every_ms = spec.every_ms;
  into.tasks_json = encode_template(spec.tasks);
  into.missed = spec.missed;
  into.overlap = spec.overlap;
}

std::string definition_changes(const schedule_row& a, const schedule_row& b) {
  std::vector<std::string> out;
  auto text = [&](const char* what, const std::string& x, const std::string& y) {
    if (x != y)
      out.push_back(fmt::format("{} \"{}\" -> \"{}\"", what, x, y));
  };
  text("cron", a.cron, b.cron);
  text("tz", a.time_zone, b.time_zone);
  if (a.every_ms != b.every_ms)
    out.push_back(fmt::format("every {} -> {}", a.every_ms ? format_duration_ms(a.every_ms) : "none",
                              b.every_ms ? format_duration_ms(b.every_ms) : "none"));
  if (a.tasks_json != b.tasks_json)
    out.emplace_back("tasks");
  text("missed", a.missed, b.missed);
  if (a.overlap != b.overlap)
    out.push_back(fmt::format("overlap {} -> {}", a.overlap, b.overlap));
  std::string joined;
  for (const auto& x : out)
    joined += (joined.empty() ? "" : ", ") + x;
  return joined;
}

caf::expected<schedule_info> info_of(const schedule_row& row) {
  auto tasks = decode_template(row.tasks_json, row.name);
  if (!tasks)
    return tasks.error();
  schedule_info x;
  x.spec = schedule_spec{row.name, row.cron, row.time_zone, row.every_ms, std::move(*tasks), row.missed, row.overlap};
  x.paused = row.paused_at != 0;
  x.source = row.source;
  x.created_at = row.created_at;
  x.updated_at = row.updated_at;
  x.last_slot = row.last_slot;
  x.last_batch_id = row.last_batch_id;
  x.fired = row.fired;
  x.skipped = row.skipped;
  x.missed = row.missed_slots;
  return x;
}

} // namespace fleet
