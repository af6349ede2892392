#include "actors/function_worker.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <thread>

namespace fleet {

namespace {

using function_done_atom = caf::atom_constant<caf::atom("fndone")>;

using function_worker_actor = worker_actor::extend<caf::reacts_to<function_done_atom, task_outcome>>;

struct function_state {
  std::shared_ptr<std::atomic<bool>> stopped = std::make_shared<std::atomic<bool>>(false);
  caf::typed_response_promise<task_outcome> promise;
  ~function_state() {
    // However the worker ends, the function learns that nobody waits for it any more.
    stopped->store(true);
  }
};

/// Runs the function; nothing it throws leaves the thread.
task_outcome run_function(const task_function& run, const task_context& ctx, const task& t) {
  try {
    auto data = nlohmann::json::parse(t.data, nullptr, false);
    if (data.is_discarded())
      return permanent_failure(fmt::format("task {}: data is not valid JSON", t.id));
    auto result = run(ctx, data);
    if (!result) {
      auto text = error_text(result.error());
      return result.error() == errc::invalid_task ? permanent_failure(std::move(text)) : failure(std::move(text));
    }
    return success(dump_json(*result));
  } catch (...) {
    return failure(fmt::format("the task function threw: {}", exception_text(std::current_exception())));
  }
}

function_worker_actor::behavior_type
function_worker(function_worker_actor::stateful_pointer<function_state> self, task_function run,
                attempt_info info) {
  report_exceptions(self);
  return {
    [self, run, info](execute_atom, task& t, int32_t attempt) -> caf::result<task_outcome> {
      auto& st = self->state;
      st.promise = self->make_response_promise<task_outcome>();
      auto here = info;
      here.attempt = attempt;
      task_context ctx{t, std::move(here), st.stopped};
      // Progress goes to the coordinator in this worker's name (the manager takes it only from
      // the attempt's worker), from the function's thread, while the worker lives.
      ctx.set_progress_sink([worker = caf::weak_actor_ptr{self->ctrl()}, coordinator = info.coordinator,
                             worker_id = info.worker_id](double fraction, std::string note) {
        if (!coordinator)
          return;
        if (auto strong = worker.lock())
          caf::send_as(caf::actor_cast<caf::actor>(strong), coordinator, progress_atom::value, worker_id, fraction,
                       std::move(note));
      });
      // A function may block: it runs on a thread of its own, never on the scheduler's. The
      // thread holds the actor weakly, so a stopped worker goes away while its function runs on.
      std::thread{[run, ctx = std::move(ctx), t = std::move(t),
                   handle = caf::weak_actor_ptr{self->ctrl()}] {
        auto outcome = run_function(run, ctx, t);
        if (auto strong = handle.lock())
          caf::anon_send(caf::actor_cast<caf::actor>(strong), function_done_atom::value, std::move(outcome));
      }}.detach();
      return st.promise;
    },
    [self](function_done_atom, task_outcome& outcome) {
      self->state.promise.deliver(std::move(outcome));
      self->quit();
    },
  };
}

} // namespace

worker_actor spawn_function_worker(caf::actor_system& sys, task_function run, attempt_info info) {
  return caf::actor_cast<worker_actor>(sys.spawn(function_worker, std::move(run), std::move(info)));
}

} // namespace fleet
