#include "actors/coordinator.hpp"

#include <caf/typed_event_based_actor.hpp>

namespace fleet {

result_summary coordinator_state::summary() const {
  result_summary out;
  out.total_results = total_results;
  out.success_count = success_count;
  out.failure_count = total_results - success_count;
  if (total_results > 0) {
    out.success_rate = static_cast<double>(success_count) / static_cast<double>(total_results);
    out.average_duration_ms = duration_sum_ms / static_cast<double>(total_results);
  }
  return out;
}

coordinator_actor::behavior_type
coordinator(coordinator_actor::stateful_pointer<coordinator_state> self, result_summary initial) {
  self->state.total_results = initial.total_results;
  self->state.success_count = initial.success_count;
  self->state.duration_sum_ms = initial.average_duration_ms * static_cast<double>(initial.total_results);
  return {
    [self](result_atom, const std::string&, const task_result& r) {
      ++self->state.total_results;
      if (r.success)
        ++self->state.success_count;
      self->state.duration_sum_ms += static_cast<double>(r.duration_ms);
    },
    [self](summary_atom) { return self->state.summary(); },
  };
}

} // namespace fleet
