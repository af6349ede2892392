#pragma once

// Recurring schedules declared in fleetd's config file: `[schedule.NAME]` sections.

#include "fleetd/schedule.hpp"

#include <caf/error.hpp>
#include <caf/settings.hpp>

#include <string>
#include <vector>

namespace fleet {

/// Reads the `[schedule.NAME]` sections of the config file at `where` (`group` is the `schedule`
/// group): `cron` (and `tz`) or `every` (a duration such as "30s", or ms), the template as
/// `tasks-file` (a task file, relative to the config file's directory) or `tasks` (its JSON text),
/// `missed` (skip|once) and `overlap` (a boolean). Errors name the section and key; the timing is
/// checked by fleetd at start (it needs the time zone database).
caf::error read_schedules(const caf::settings& group, const std::string& where, std::vector<schedule_spec>& out);

} // namespace fleet
