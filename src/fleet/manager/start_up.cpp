#include "fleet/manager/start_up.hpp"

namespace fleet {

caf::expected<start_up_state> start_up(fleet_store& store, int64_t now, int32_t max_interruptions,
                                       const std::vector<start_journal::entry>& starts,
                                       const std::vector<orphan_stop>& orphans, int64_t upload_expiry_before) {
  start_up_state out;
  auto recovered = store.recover_interrupted(now, max_interruptions, starts, orphans);
  if (!recovered)
    return recovered.error();
  out.recovered = std::move(*recovered);
  auto expired = store.expire_uploads(upload_expiry_before);
  if (!expired)
    return expired.error();
  out.expired_uploads = *expired;
  auto unfinished = store.unfinished_tasks();
  if (!unfinished)
    return unfinished.error();
  out.unfinished_tasks = *unfinished;
  auto paused = store.fleet_paused();
  if (!paused)
    return paused.error();
  out.fleet_paused = *paused;
  auto totals = store.result_totals();
  if (!totals)
    return totals.error();
  out.totals = *totals;
  return out;
}

caf::expected<start_up_state> run_start_up(write_pipeline& writer, int64_t now, int32_t max_interruptions,
                                           const std::vector<start_journal::entry>& starts,
                                           const std::vector<orphan_stop>& orphans, int64_t upload_expiry_before) {
  start_up_state started;
  auto err = writer.run([&](fleet_store& store) -> caf::error {
    auto done = start_up(store, now, max_interruptions, starts, orphans, upload_expiry_before);
    if (!done)
      return done.error();
    started = std::move(*done);
    return caf::none;
  });
  if (err)
    return err;
  return started;
}

} // namespace fleet
