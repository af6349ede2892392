#include "fleetd/batch_state.hpp"

namespace fleet {

std::string to_string(batch_state x) {
  switch (x) {
    case batch_state::pending: return "pending";
    case batch_state::processing: return "processing";
    case batch_state::completed: return "completed";
    case batch_state::failed: return "failed";
    case batch_state::partial: return "partial";
    case batch_state::cancelled: return "cancelled";
  }
  return "unknown";
}

bool is_finished(const batch_counts& c) {
  return c.succeeded + c.failed + c.cancelled >= c.total;
}

batch_state derive_state(const batch_counts& c) {
  if (c.cancel_requested)
    return batch_state::cancelled;
  if (is_finished(c)) {
    if (c.succeeded == c.total)
      return batch_state::completed;
    if (c.failed == c.total)
      return batch_state::failed;
    return batch_state::partial;
  }
  return c.started ? batch_state::processing : batch_state::pending;
}

double progress(const batch_counts& c) {
  if (c.total <= 0)
    return 0;
  auto done = c.succeeded + c.failed + c.cancelled;
  return done >= c.total ? 1.0 : static_cast<double>(done) / static_cast<double>(c.total);
}

} // namespace fleet
