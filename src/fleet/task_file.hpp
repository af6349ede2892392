#pragma once

#include "fleetd/task.hpp"
#include "fleet/validation.hpp"

#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fleet {

/// Reads tasks as written by people: a JSON array of task objects, or JSON Lines (one object per
/// line, blank lines skipped). A task object is {"id", "type", "data", "priority"}, optionally with
/// its start time (`run_at` or `delay_ms`) and policy (`timeout_ms`, `max_retries`, `backoff_ms`,
/// `retry`): `type` is required; `id` defaults to "task-N" (N its position in the file; if the file also uses that id
/// explicitly, fleetd refuses the batch as a duplicate); `data` (any JSON) to {}; `priority` (an
/// integer) to 0. Unknown fields are refused, so that a typo does not go unnoticed. Errors
/// (errc::invalid_task) name `source` and the line, e.g. "tasks.jsonl line 3: ...".
///
/// `data` is passed on exactly as written (a big integer is not rounded through a double). The
/// limits fleetd will apply (id length, data size, nesting) are checked as the file is read, and a
/// line too long to hold a task within them is refused before it is read whole.
///
/// JSON Lines are read chunk by chunk, so that a file of millions of tasks is never in memory at
/// once; a JSON array is one document and is read whole.
class task_stream {
public:
  task_stream(std::istream& in, std::string source, submit_limits limits = {});

  /// Up to `max` more tasks; empty once done. errc::invalid_batch if the input holds no task.
  caf::expected<std::vector<task>> next(size_t max);

  /// True once the input is exhausted.
  bool done() const { return done_; }

private:
  caf::error start();
  task name(task spec, bool has_id);
  /// The next line into `row`; false at the end of the input.
  bool read_line(std::string& row, bool& too_long);

  std::istream& in_;
  std::string source_;
  submit_limits limits_;
  bool started_ = false;
  bool done_ = false;
  int64_t line_ = 0;
  int64_t count_ = 0;
  std::unique_ptr<std::vector<task>> array_; ///< a JSON array, read whole
  size_t array_pos_ = 0;
};

/// A task's priority from JSON: an integer within int32's range (an unsigned one above int64's
/// range included, which nlohmann would otherwise read as a negative number); none otherwise.
std::optional<int32_t> json_priority(const nlohmann::json& value);

/// The members a task object has for `p`'s fields that differ from the fleet's (none for an empty
/// policy), as task_stream reads them: `timeout_ms`, `max_retries`, `backoff_ms`, `retry`.
nlohmann::json policy_members(const task_policy& p);

/// The same members written out, each preceded by a comma: to append to a task object's text.
std::string policy_members_text(const task_policy& p);

/// A policy given for a whole submit: a JSON object of the same members (errc::invalid_task
/// naming `where` and the member otherwise).
caf::expected<task_policy> policy_from_json(const nlohmann::json& x, const std::string& where);

/// Gives `p` the fields of `defaults` (a whole submit's) that it does not set itself; `max_retries`
/// and `retry` are one rule: a task that sets either keeps its own.
void fill_policy(task_policy& p, const task_policy& defaults);

/// All tasks of `text` at once (see task_stream).
caf::expected<std::vector<task>> parse_task_file(std::string_view text, const std::string& source);

} // namespace fleet
