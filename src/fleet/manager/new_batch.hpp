#pragma once

#include "fleet/store.hpp"
#include "fleet/validation.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace fleet {

/// What a submit or a seal stored: the batch that already had the client key (nothing stored), or
/// how many tasks the new batch holds.
struct stored_batch {
  std::string existing;
  int64_t tasks = 0;
  int64_t first_seq = 0; ///< of the new batch's tasks, which follow it in submission order
};

/// The one job that stores a new batch, for a submit and for a seal alike, inside the caller's
/// transaction: the client key is looked up first (two submits with one key, however close, store
/// one batch; `on_existing` then runs, e.g. to drop a sealed upload); fleet.max-pending-batches is
/// checked counting the batches in flight; `insert` stores the tasks under `id` and says how many;
/// the key is set last.
caf::expected<stored_batch> store_new_batch(fleet_store& store, const std::string& id, const std::string& key,
                                            const submit_limits& limits,
                                            const std::function<caf::expected<int64_t>(fleet_store&)>& insert,
                                            const std::function<caf::error(fleet_store&)>& on_existing = {});

/// store_new_batch for a batch given whole: `tasks` stored under `id` at `now` (their delays count
/// from it).
caf::expected<stored_batch> store_new_batch(fleet_store& store, const std::string& id, const std::string& key,
                                            const submit_limits& limits, const std::vector<task>& tasks, int64_t now);

} // namespace fleet
