#include "fleet/manager/storage_health.hpp"

#include "fleetd/error.hpp"

namespace fleet {

storage_health::change storage_health::note(const caf::error& err) {
  if (err == errc::database_damaged) {
    if (damaged_)
      return change::none;
    damaged_ = true;
    error_ = error_text(err);
    return change::damaged;
  }
  if (err == errc::storage_unavailable) {
    if (damaged_)
      return change::none;
    auto first = error_.empty();
    error_ = error_text(err);
    return first ? change::unavailable : change::still_unavailable;
  }
  if (!err && !error_.empty() && !damaged_) {
    error_.clear();
    return change::recovered;
  }
  return change::none;
}

} // namespace fleet
