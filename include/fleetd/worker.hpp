#pragma once

#include "fleetd/interfaces.hpp"
#include "fleetd/task_check.hpp"
#include "fleetd/task_context.hpp"

#include <caf/expected.hpp>
#include <caf/timespan.hpp>
#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fleet {

/// Spawns a fresh worker for one attempt of a task.
using worker_factory = std::function<worker_actor(caf::actor_system& sys)>;
/// The same, for a worker that needs to know its attempt (its worker id, its deadline, the
/// coordinator it may report to).
using attempt_worker_factory = std::function<worker_actor(caf::actor_system& sys, const attempt_info& attempt)>;

/// A task type as a plain function: the task's data in, its JSON result out. It runs on a thread
/// of its own (it may block), once per attempt. An error fails the attempt and the fleet retries
/// it by its rules; an error of errc::invalid_task ("this data can never work") fails the task at
/// once. An exception fails the attempt with its text. A function that outlives its deadline
/// fails as timed out; it should watch `ctx.cancelled()` and return early, since a thread cannot
/// be stopped from outside.
using task_function = std::function<caf::expected<nlohmann::json>(const task_context& ctx,
                                                                  const nlohmann::json& data)>;

/// Maps a task `type` to the worker implementation that runs it.
class worker_registry {
public:
  /// Registers (or replaces) the implementation of `type`: an actor per attempt.
  void add(std::string type, worker_factory spawn, data_check check = {});
  void add(std::string type, attempt_worker_factory spawn, data_check check = {});
  /// Registers (or replaces) `type` with one worker for many attempts: it is spawned when the
  /// first attempt of the type comes (through execution_hooks::get_worker_instance), gets every
  /// attempt after it, several at a time, and lives until it exits (the next attempt spawns
  /// another). Such a worker answers each `execute` without blocking and never quits after an
  /// answer; an attempt that times out or is cancelled is dropped, not stopped (its late answer
  /// is ignored); if the worker exits, the attempts it held fail as a worker failure. It saves
  /// the spawn, the monitor and the exit of an actor per attempt: a fifth of fleetd's CPU on
  /// no-op tasks (docs/BENCHMARKS.md, 2026-12-06 14:37). The built-in `echo` and `fail` are such.
  void add_shared(std::string type, worker_factory spawn, data_check check = {});
  /// Registers (or replaces) `type` as a plain function (see task_function).
  void add_function(std::string type, task_function run, data_check check = {});

  bool contains(const std::string& type) const;
  /// Whether `type` was registered with add_shared.
  bool shared(const std::string& type) const;
  /// Whether `type` was registered with a data_check.
  bool checks_data(const std::string& type) const;
  /// A fresh worker for one attempt of `t` (for a shared type: a fresh shared worker), or
  /// unknown_task_type.
  caf::expected<worker_actor> spawn(caf::actor_system& sys, const task& t, const attempt_info& info) const;

  /// The submit-time check for every task: known type, data accepted by its kind.
  task_type_check checker() const;

  std::vector<std::string> types() const;

  /// Forgets every kind but `types`; the error names a type that was not registered.
  caf::error keep_only(const std::vector<std::string>& types);

private:
  struct kind {
    attempt_worker_factory spawn; ///< null for a function
    task_function run;
    data_check check;
    bool shared = false;
  };
  std::map<std::string, kind> kinds_;
};

/// Makes an exception that escapes one of `self`'s handlers fail the attempt with the
/// exception's text (errc::worker_failed, "the worker threw: ..."), where CAF would report only
/// `runtime_error`. Call it first thing in a worker's behaviour; every built-in worker does.
void report_exceptions(caf::scheduled_actor* self);

/// Called exactly once with the outcome of an attempt, or the error that kept it from one
/// (`caf::sec::request_timeout` when it ran out of time).
using outcome_handler = std::function<void(caf::expected<task_outcome>)>;

/// How the fleet gets a worker and runs an attempt on it: the seed's getWorkerInstance and
/// executeTaskOnWorker. Subclass and override either to change it; the defaults spawn the
/// registered kind and send it `execute` with the worker timeout as deadline.
class execution_hooks {
public:
  virtual ~execution_hooks();

  /// The worker for one attempt (getWorkerInstance); the default: `registry.spawn`. For a type
  /// registered with add_shared, the fleet asks once and reuses the worker until it exits.
  virtual caf::expected<worker_actor> get_worker_instance(caf::actor_system& sys,
                                                          const worker_registry& registry,
                                                          const attempt_info& attempt,
                                                          const task& t);

  /// Runs the attempt on `worker` and calls `done` once (executeTaskOnWorker). The manager
  /// enforces `timeout` itself (the attempt fails as timed out and the worker is stopped); an
  /// override may use it for its own deadlines. Avoid per-request CAF timeouts: CAF 0.17 holds
  /// each one in memory until it expires.
  virtual void execute_task_on_worker(fleet_manager_actor::pointer self, const worker_actor& worker,
                                      const task& t, int32_t attempt, caf::timespan timeout,
                                      outcome_handler done);

  /// Stops the attempt `worker_id` on `worker` after the fleet gave up on it (cancel, timeout,
  /// drain) or after it reported its outcome through the coordinator. The default stops the
  /// worker (`user_shutdown`): right for a worker per attempt. A hook that hands one long-lived
  /// worker many attempts overrides it, or one cancel would stop them all. Not called for the
  /// worker of a shared type (add_shared).
  virtual void stop_attempt(fleet_manager_actor::pointer self, const worker_actor& worker,
                            const std::string& worker_id);
};

} // namespace fleet
