#include "fleet/transitions.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace fleet {

std::string to_string(attempt_outcome x) {
  switch (x) {
    case attempt_outcome::succeeded: return "succeeded";
    case attempt_outcome::failed: return "failed";
    case attempt_outcome::timed_out: return "timed_out";
    case attempt_outcome::cancelled: return "cancelled";
    case attempt_outcome::interrupted: return "interrupted";
  }
  return "unknown";
}

std::string poison_error(int64_t lost, const std::string& reason) {
  return fmt::format("given up after {} lost attempts (fleet.max-interruptions): fleetd or the task's node "
                     "went down during each, as a task that crashes them makes happen; the last: {}",
                     lost, reason);
}

attempt_ended lost_attempt_end(int64_t seq, std::string batch_id, std::string task_id, int32_t attempt, int64_t at,
                               int64_t duration_ms, int64_t lost, int32_t max_interruptions, std::string reason) {
  attempt_ended end;
  end.seq = seq;
  end.batch_id = std::move(batch_id);
  end.task_id = std::move(task_id);
  end.attempt = attempt;
  end.at = at;
  end.duration_ms = std::max<int64_t>(0, duration_ms);
  end.outcome = attempt_outcome::interrupted;
  end.orphaned = true;
  if (lost >= max_interruptions) {
    end.next = task_disposition::failed;
    end.error = poison_error(lost, reason);
  } else {
    end.next = task_disposition::requeue;
    end.error = std::move(reason);
  }
  return end;
}

} // namespace fleet
