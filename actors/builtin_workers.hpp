#pragma once

#include "fleetd/interfaces.hpp"
#include "fleetd/worker.hpp"
#include "fleet/child_sandbox.hpp"

#include <optional>
#include <string>
#include <vector>

namespace fleet {

/// Registers the built-in task types:
/// - `echo`: the result is the task's data.
/// - `sleep`: {"ms": N}, waits N ms on a timer (no thread blocked), result {"slept_ms": N}.
/// - `fail`: {"times": N, "error": "..."} fails its first N attempts, then succeeds with its data;
///   without "times" it always fails.
/// - `exec`: {"argv": [...], "timeout_ms": N, "env": {...}} runs a program without a shell, off the
///   scheduler's threads; result {"exit_code", "stdout", "stderr"} (tails); a non-zero exit fails.
///
/// `exec_allow` limits `exec` to the programs it names (argv[0] exactly as written, e.g. "sh" or
/// "/usr/bin/convert"); empty means no `exec` at all; `std::nullopt` allows any program (tests and
/// embedding programs; fleetd always passes its fleet.exec-allow). `exec_env_allow` names the
/// variables a task's env may set although they change what runs (fleet.exec-env-allow); the
/// check runs at submit and again before the program starts. `exec_sandbox` is what the programs
/// get (`[exec]`): by default a minimal environment (PATH only) and fleetd's user and limits.
void add_builtin_workers(worker_registry& registry,
                         std::optional<std::vector<std::string>> exec_allow = std::nullopt,
                         std::vector<std::string> exec_env_allow = {}, child_sandbox exec_sandbox = {});

worker_actor::behavior_type echo_worker(worker_actor::pointer self);
worker_actor::behavior_type fail_worker(worker_actor::pointer self);

} // namespace fleet
