#pragma once

#include <cstdint>
#include <string>

namespace fleet {

/// A row of `schedules` (schema/0004_schedules.sql), as the store reads and writes it; the
/// schedule's meaning is in src/fleet/schedule.hpp.
struct schedule_row {
  std::string name;
  std::string cron;       ///< empty for an interval
  std::string time_zone;  ///< empty: UTC
  int64_t every_ms = 0;   ///< 0 for cron
  std::string tasks_json; ///< the template: a JSON array of task objects
  std::string missed = "skip";
  bool overlap = true;
  int64_t paused_at = 0; ///< 0: not paused
  std::string source = "runtime";
  int64_t created_at = 0;
  int64_t updated_at = 0;
  int64_t handled_until = 0; ///< every slot up to here fired, was skipped or was missed
  int64_t last_slot = 0;     ///< of the last firing by slot; 0 if none
  std::string last_batch_id;
  int64_t fired = 0;
  int64_t skipped = 0;
  int64_t missed_slots = 0;
};

} // namespace fleet
