#pragma once

// What a recurring schedule means: its slots (cron or interval), the checks on a definition, which
// slots are due at a given time, and how its template is stored.

#include "fleetd/schedule.hpp"
#include "fleetd/submit_limits.hpp"
#include "fleet/cron.hpp"
#include "fleet/schedule_row.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fleet {

/// A slot found more than this late counts as missed (fleetd was down, or its clock jumped):
/// `missed = skip` does not run it.
inline constexpr int64_t schedule_grace_ms = 60'000;

/// The shortest interval of `every`.
inline constexpr int64_t min_schedule_interval_ms = 1'000;

/// The most schedules one fleetd keeps.
inline constexpr size_t max_schedules = 1'000;

/// A template's bounds: it is kept in the manager's memory and submitted whole at every firing (a
/// batch bigger than this is a submit's job, not a timetable's).
inline constexpr size_t max_template_tasks = 10'000;
inline constexpr size_t max_template_bytes = size_t{1} << 20;

/// The slots of a schedule.
class schedule_timing {
public:
  /// From a definition: its cron expression in its zone, or its interval; errc::invalid_argument
  /// for a bad one.
  static caf::expected<schedule_timing> of(const std::string& cron, const std::string& time_zone, int64_t every_ms);

  /// The first slot strictly after `after_ms`; none if there is none within ten years.
  std::optional<int64_t> next_after(int64_t after_ms) const;

  /// The latest slot in (after_ms, now_ms], if any.
  std::optional<int64_t> latest_in(int64_t after_ms, int64_t now_ms) const;

  /// How many slots lie in [from_ms, to_ms), counting up to `cap`.
  int64_t count_in(int64_t from_ms, int64_t to_ms, int64_t cap = 100'000) const;

  /// The cron expression as parsed (macros expanded), or empty.
  std::string cron_text() const { return cron_ ? cron_->text() : std::string{}; }

private:
  std::optional<cron_expr> cron_;
  cctz::time_zone zone_ = cctz::utc_time_zone();
  int64_t every_ms_ = 0;
};

/// Checks what a definition can be checked for without fleetd's worker registry: the name, the
/// timing (parsed), the policy, and the template's shape (1 to max_template_tasks tasks of at most
/// max_template_bytes as stored, no `run_at`). Submit's validation of the tasks (types, data) comes on top.
caf::expected<schedule_timing> validate_schedule(const schedule_spec& spec, const submit_limits& limits = {});

/// Which slots are due at `now` for a schedule whose slots up to `handled_until` are dealt with.
struct slot_plan {
  std::optional<int64_t> fire;  ///< the slot to fire now, if any
  int64_t missed = 0;           ///< slots passed over without firing
  int64_t missed_first = 0;     ///< the first and last of them (0 if none)
  int64_t missed_last = 0;
  int64_t handled_until = 0;    ///< after this plan: every slot up to here is dealt with
  std::optional<int64_t> next;  ///< the next slot after that
};

/// At most one slot fires per plan: the latest due one, if it is not later than
/// schedule_grace_ms or `run_latest_missed` (missed = once); the earlier due ones are missed.
slot_plan plan_slots(const schedule_timing& timing, int64_t handled_until, int64_t now, bool run_latest_missed);

/// The client key of the batch a slot makes: "schedule:NAME@2026-12-02T10:00:00.000Z".
std::string slot_key(const std::string& name, int64_t slot_ms);
/// The client key of the batch `schedule run NAME` made at `now`.
std::string run_key(const std::string& name, int64_t now_ms);

/// The template as stored: a JSON array of task objects, `data` exactly as submitted.
std::string encode_template(const std::vector<task>& tasks);
caf::expected<std::vector<task>> decode_template(std::string_view json, const std::string& schedule);

/// A definition as a row (times and counters left as they are in `into`).
void write_definition(const schedule_spec& spec, const schedule_timing& timing, schedule_row& into);
/// What differs between two stored definitions, for the log ("cron \"a\" -> \"b\", tasks"); empty if nothing.
std::string definition_changes(const schedule_row& before, const schedule_row& after);
/// The public view of a row (`next_run_at` and the batch's state are the caller's).
caf::expected<schedule_info> info_of(const schedule_row& row);

} // namespace fleet
