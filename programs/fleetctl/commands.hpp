#pragma once

#include "fleetd/tls.hpp"

// fleetctl's commands. Each returns the process exit code: 0 success, 1 the batch ended failed or
// partial (or was not cancelled), 2 an error (printed as one line on stderr).

#include "fleetd/client.hpp"
#include "fleetd/task.hpp"

#include <caf/actor_system.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fleetctl {

inline constexpr int exit_ok = 0;
inline constexpr int exit_batch_failed = 1;
inline constexpr int exit_error = 2;

/// The parsed command line.
struct invocation {
  std::string host = "127.0.0.1";
  uint16_t port = 4242;
  bool json = false;
  int64_t timeout_ms = 30000;
  bool wait = false;   ///< submit --wait
  std::string key;     ///< submit --key: idempotent submit
  int64_t delay_ms = 0; ///< submit --delay: for the tasks that name no start time of their own
  int64_t run_at = 0;   ///< submit --at (ms since the epoch): the same
  /// submit --task-timeout, --max-retries, --backoff, --no-retry: for each task that sets no such
  /// field of its own
  fleet::task_policy policy;
  std::string queue; ///< submit --queue: for each task that names no queue of its own
  std::string group; ///< submit --group: the same for the group
  bool now = false;     ///< prune --now
  std::string cron;     ///< schedule add --cron
  std::string tz;       ///< schedule add --tz
  int64_t every_ms = 0; ///< schedule add --every
  std::string missed;   ///< schedule add --missed skip|once
  bool no_overlap = false; ///< schedule add --no-overlap
  bool replace = false;    ///< schedule add --replace
  bool dot = false;        ///< graph --dot
  bool tasks = false;      ///< status --tasks
  std::string batch;   ///< replay --batch
  bool whole_fleet = false; ///< --fleet (or --all): pause, resume and failed act on every batch
  int64_t poll_ms = 250; ///< how often wait asks for the status
  std::string command;
  std::vector<std::string> args;
  fleet::tls_files tls; ///< --tls-cert/--tls-key/--tls-ca (or FLEETCTL_TLS_CERT, ...)
};

/// Prints "fleetctl: TEXT" on stderr and returns exit_error.
int error(const std::string& text);

/// Everything that can be done without a daemon first (reading the task file), then the call.
int run_command(const invocation& inv);

/// The usage text of the program, or of one command.
std::string usage(const std::string& command = {});

/// True if `command` names a command.
bool is_command(const std::string& command);

} // namespace fleetctl
