#include "actors/coordinator.hpp"

#include "actors/origin.hpp"

#include <caf/typed_event_based_actor.hpp>

namespace fleet {

result_summary coordinator_state::summary() const {
  return make_summary(total_results, success_count, duration_sum_ms);
}

coordinator_actor::behavior_type
coordinator(coordinator_actor::stateful_pointer<coordinator_state> self, result_summary initial,
            fleet_manager_actor manager) {
  self->state.total_results = initial.total_results;
  self->state.success_count = initial.success_count;
  self->state.duration_sum_ms = initial.average_duration_ms * static_cast<double>(initial.total_results);
  return {
    [self](result_atom, const std::vector<task_result>& results) {
      // Its handle reaches other nodes (coordinator_atom): only local results count.
      if (!sent_from_local_node(self))
        return;
      for (const auto& r : results) {
        ++self->state.total_results;
        if (r.success)
          ++self->state.success_count;
        self->state.duration_sum_ms += static_cast<double>(r.duration_ms);
      }
    },
    [self](summary_atom) { return self->state.summary(); },
    [self, manager](submit_result_atom, const std::string& worker_id, const task_outcome& outcome) {
      // Counted here only once the manager stored it as the attempt's outcome, through the
      // result message above: the worker's own report is never counted beside it. The manager
      // sees the worker as the sender and checks that the attempt is that worker's.
      return self->delegate(manager, submit_result_atom::value, worker_id, outcome);
    },
    [self, manager](progress_atom, const std::string& worker_id, double progress, const std::string& note) {
      // Forwarded in its sender's name (delegate needs a request): the manager checks that it is
      // the attempt's worker.
      if (auto sender = caf::actor_cast<caf::actor>(self->current_sender()))
        caf::send_as(sender, manager, progress_atom::value, worker_id, progress, note);
    },
  };
}

} // namespace fleet
