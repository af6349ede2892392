#include "actors/builtin_workers.hpp"

#include "fleet/builtin_checks.hpp"
#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"
#include "fleet/text.hpp"
#include "fleet/subprocess.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

namespace fleet {

namespace {

using json = nlohmann::json;

/// Replies once and quits: every worker lives for exactly one attempt.
template <class Self>
caf::result<task_outcome> reply_and_quit(Self* self, task_outcome outcome) {
  auto rp = self->template make_response_promise<task_outcome>();
  rp.deliver(std::move(outcome));
  self->quit();
  return rp;
}

json parse(const task& t) {
  return json::parse(t.data, nullptr, false);
}

// -- sleep ---------------------------------------------------------------------

// The sleep worker's own timer message, and the exec worker's result from its waiting thread:
// atoms of their own, not the protocol's.
using slept_atom = caf::atom_constant<caf::atom("slept")>;
using exec_done_atom = caf::atom_constant<caf::atom("execdone")>;

using sleep_worker_actor = worker_actor::extend<caf::reacts_to<slept_atom>>;

struct sleep_state {
  caf::typed_response_promise<task_outcome> promise;
  int64_t ms = 0;
};

sleep_worker_actor::behavior_type
sleep_worker(sleep_worker_actor::stateful_pointer<sleep_state> self) {
  report_exceptions(self);
  return {
    [self](execute_atom, const task& t, int32_t) -> caf::result<task_outcome> {
      auto data = parse(t);
      self->state.ms = data.value("ms", int64_t{0});
      self->state.promise = self->make_response_promise<task_outcome>();
      self->delayed_send(self, std::chrono::milliseconds(self->state.ms), slept_atom::value);
      return self->state.promise;
    },
    [self](slept_atom) {
      self->state.promise.deliver(success(dump_json(json{{"slept_ms", self->state.ms}})));
      self->quit();
    },
  };
}

// -- fail ----------------------------------------------------------------------

// -- exec ----------------------------------------------------------------------

using exec_worker_actor = worker_actor::extend<caf::reacts_to<exec_done_atom, task_outcome>>;

struct exec_state {
  std::shared_ptr<child_process> child;
  caf::typed_response_promise<task_outcome> promise;
  ~exec_state() {
    // The worker stops (timeout, cancel, shutdown): the program must not outlive it.
    if (child)
      child->kill();
  }
};

/// The most FLEET_DEPS may hold: below Linux's limit for one environment string (128 KiB).
constexpr size_t max_exec_deps_bytes = 120 * 1024;

subprocess_spec exec_spec(const json& data) {
  subprocess_spec spec;
  for (const auto& arg : data["argv"])
    spec.argv.push_back(arg.get<std::string>());
  spec.timeout_ms = data.value("timeout_ms", int64_t{0});
  if (data.contains("env"))
    for (const auto& [name, value] : data["env"].items())
      spec.env[name] = value.get<std::string>();
  return spec;
}

/// Output for JSON: bytes that are not UTF-8 become U+FFFD, and the result says which stream had
/// some and which was cut to its tail.
void add_output(json& result, const char* name, const std::string& tail, bool truncated) {
  bool replaced = false;
  result[name] = to_utf8(tail, &replaced);
  if (truncated)
    result[fmt::format("{}_truncated", name)] = true;
  if (replaced)
    result[fmt::format("{}_invalid_utf8", name)] = true;
}

task_outcome exec_outcome(const subprocess_spec& spec, const subprocess_result& r) {
  if (r.timed_out)
    return failure(fmt::format("{} timed out after {} ms", spec.argv[0], spec.timeout_ms));
  if (r.signal != 0)
    return failure(fmt::format("{} was killed by signal {}", spec.argv[0], r.signal));
  if (r.exit_code != 0)
    return failure(fmt::format("{} exited with code {}: {}", spec.argv[0], r.exit_code,
                               to_utf8(utf8_tail(r.stderr_tail, 512))));
  json result{{"exit_code", r.exit_code}};
  add_output(result, "stdout", r.stdout_tail, r.stdout_truncated);
  add_output(result, "stderr", r.stderr_tail, r.stderr_truncated);
  return success(dump_json(result));
}

/// Waits for the program on the calling thread; nothing it throws leaves the thread.
task_outcome wait_for_exec(const subprocess_spec& spec, child_process& proc) {
  try {
    return exec_outcome(spec, proc.wait());
  } catch (...) {
    return failure(fmt::format("exec: {}", exception_text(std::current_exception())));
  }
}

exec_worker_actor::behavior_type
exec_worker(exec_worker_actor::stateful_pointer<exec_state> self, data_check check,
            std::shared_ptr<const child_sandbox> sandbox, std::string worker_id) {
  report_exceptions(self);
  return {
    [self, check, sandbox, worker_id](execute_atom, const task& t, int32_t) -> caf::result<task_outcome> {
      // Again at the start: the task may have been stored before the operator narrowed
      // fleet.exec-allow or fleet.exec-env-allow.
      auto data = parse(t);
      if (auto err = check(data))
        return reply_and_quit(self, permanent_failure(error_text(err)));
      auto spec = exec_spec(data);
      spec.sandbox = sandbox;
      spec.label = worker_id; // a restart after a crash finds the program by it (child journal)
      if (!t.deps.empty()) {
        // The environment is the one channel every program reads; Linux caps one entry.
        if (t.deps.size() > max_exec_deps_bytes)
          return reply_and_quit(self, permanent_failure(fmt::format(
                                        "exec: the results of its dependencies are {} bytes, more than FLEET_DEPS "
                                        "can carry ({}): run it as a pool worker or a task function",
                                        t.deps.size(), max_exec_deps_bytes)));
        spec.env["FLEET_DEPS"] = t.deps;
      }
      auto child = child_process::start(spec);
      if (!child) {
        auto text = error_text(child.error());
        return reply_and_quit(self, child.error() == errc::invalid_task ? permanent_failure(std::move(text))
                                                                        : failure(std::move(text)));
      }
      self->state.child = *child;
      self->state.promise = self->make_response_promise<task_outcome>();
      // Waiting blocks, so it runs on a thread of its own, never on the scheduler's.
      std::thread{[proc = *child, spec, handle = caf::actor_cast<caf::actor>(self)] {
        caf::anon_send(handle, exec_done_atom::value, wait_for_exec(spec, *proc));
      }}.detach();
      return self->state.promise;
    },
    [self](exec_done_atom, task_outcome& outcome) {
      self->state.promise.deliver(std::move(outcome));
      self->state.child.reset();
      self->quit();
    },
  };
}

} // namespace

worker_actor::behavior_type echo_worker(worker_actor::pointer self) {
  report_exceptions(self);
  return {
    [self](execute_atom, const task& t, int32_t) -> caf::result<task_outcome> {
      return reply_and_quit(self, success(t.data));
    },
  };
}

namespace {

/// `fail`'s answer: a failure, or success once the attempt is past data.times.
task_outcome fail_outcome(const task& t, int32_t attempt) {
  auto data = parse(t);
  auto message = data.value("error", std::string{"task failed on purpose"});
  if (!data.contains("times") || attempt <= data["times"].get<int64_t>())
    return failure(fmt::format("{} (attempt {})", message, attempt));
  return success(t.data);
}

} // namespace

worker_actor::behavior_type fail_worker(worker_actor::pointer self) {
  report_exceptions(self);
  return {
    [self](execute_atom, const task& t, int32_t attempt) -> caf::result<task_outcome> {
      return reply_and_quit(self, fail_outcome(t, attempt));
    },
  };
}

namespace {

// The shared forms of echo and fail (worker_registry::add_shared): one actor answers every
// attempt of the type and lives on.

worker_actor::behavior_type shared_echo_worker(worker_actor::pointer self) {
  report_exceptions(self);
  return {
    [](execute_atom, const task& t, int32_t) -> caf::result<task_outcome> { return success(t.data); },
  };
}

worker_actor::behavior_type shared_fail_worker(worker_actor::pointer self) {
  report_exceptions(self);
  return {
    [](execute_atom, const task& t, int32_t attempt) -> caf::result<task_outcome> { return fail_outcome(t, attempt); },
  };
}

} // namespace

void add_builtin_workers(worker_registry& registry, std::optional<std::vector<std::string>> exec_allow,
                         std::vector<std::string> exec_env_allow, child_sandbox exec_sandbox) {
  auto sandbox = std::make_shared<const child_sandbox>(std::move(exec_sandbox));
  data_check check_exec = [allow = std::move(exec_allow), env_allow = std::move(exec_env_allow)](const json& data) {
    return check_exec_data(data, allow, env_allow);
  };
  registry.add_shared("echo", [](caf::actor_system& sys) { return sys.spawn(shared_echo_worker); });
  registry.add(
    "sleep",
    [](caf::actor_system& sys) { return caf::actor_cast<worker_actor>(sys.spawn(sleep_worker)); },
    check_sleep_data);
  registry.add_shared("fail", [](caf::actor_system& sys) { return sys.spawn(shared_fail_worker); },
                      check_fail_data);
  registry.add(
    "exec",
    attempt_worker_factory{[check_exec, sandbox](caf::actor_system& sys, const attempt_info& attempt) {
      return caf::actor_cast<worker_actor>(sys.spawn(exec_worker, check_exec, sandbox, attempt.worker_id));
    }},
    check_exec);
}

} // namespace fleet
