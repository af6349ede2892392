#pragma once

#include "fleet/task.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace fleet {

/// Reads tasks as written by people: a JSON array of task objects, or JSON Lines (one object per
/// line, blank lines skipped). A task object is {"id", "type", "data", "priority"}: `type` is
/// required; `id` defaults to "task-N" (N its position, skipping ids the file uses); `data`
/// (any JSON) to {}; `priority` (an integer) to 0. Unknown fields are refused, so that a typo
/// does not go unnoticed. Errors (errc::invalid_task) name `source` and the line, e.g.
/// "tasks.jsonl line 3: ...".
caf::expected<std::vector<task>> parse_task_file(std::string_view text, const std::string& source);

} // namespace fleet
