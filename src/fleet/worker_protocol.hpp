#pragma once

// The JSON Lines protocol between fleetd and a worker process of a pool (docs/WORKER-PROTOCOL.md):
// what fleetd writes to a worker's stdin, and what it accepts from its stdout. Pure: no processes.

#include "fleetd/task.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace fleet {

/// The longest line fleetd reads from a worker; a longer one is a protocol violation.
inline constexpr size_t max_worker_line = 16u << 20;
/// The longest error text and progress note kept from a worker (longer ones are cut).
inline constexpr size_t max_worker_text = 4096;

/// One attempt, as fleetd hands it to a worker process.
struct pool_request {
  std::string attempt_id; ///< the worker id of the attempt: the worker answers with it
  std::string task_id;
  std::string batch_id;
  std::string type;
  std::string data_json; ///< the task's data, as stored (any JSON text)
  int32_t attempt = 1;
  int64_t deadline_ms = 0; ///< ms since the epoch; 0: none
  std::string deps_json{}; ///< its dependencies' results by task id (a JSON object); empty: none
};

/// The request as one line of compact JSON, '\n' included; an error if the data is not JSON.
caf::expected<std::string> request_line(const pool_request& r);

/// What a worker's line says.
struct worker_reply {
  enum class kind { outcome, progress };
  kind what = kind::outcome;
  std::string id;
  task_outcome outcome;  ///< kind::outcome: the result JSON, or the error and whether to retry
  double progress = 0;   ///< kind::progress: 0..1
  std::string note;      ///< kind::progress: optional text
};

/// Reads one line (without its '\n') of a worker's stdout. Refused, with a sentence that says
/// what was wrong (errc::worker_failed): text that is not one JSON object, no string "id", neither
/// a boolean "ok" nor a number "progress" in [0, 1], "ok": false without a string "error", a line
/// longer than max_worker_line. Members it does not know are ignored; long texts are cut.
caf::expected<worker_reply> parse_worker_line(std::string_view line);

} // namespace fleet
