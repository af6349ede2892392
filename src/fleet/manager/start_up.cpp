#include "fleet/manager/start_up.hpp"

namespace fleet {

caf::expected<start_up_state> start_up(fleet_store& store, const start_up_input& in) {
  start_up_state out;
  if (in.run) {
    auto run = store.record_run_start(in.now, in.run->pid, in.run->version, in.run->detail);
    if (!run)
      return run.error();
    out.run = *run;
  }
  auto recovered = store.recover_interrupted(in.now, in.max_interruptions, in.starts, in.orphans, in.hold_node_attempts);
  if (!recovered)
    return recovered.error();
  out.recovered = std::move(*recovered);
  auto pulled = store.pull_in_future_retries(in.now, in.backoff_cap_ms);
  if (!pulled)
    return pulled.error();
  out.retries_pulled_in = *pulled;
  auto expired = store.expire_uploads(in.upload_expiry_before);
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

caf::expected<start_up_state> run_start_up(write_pipeline& writer, const start_up_input& in) {
  start_up_state started;
  auto err = writer.run([&](fleet_store& store) -> caf::error {
    auto done = start_up(store, in);
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
