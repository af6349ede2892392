#include "fleet/manager/new_batch.hpp"

namespace fleet {

caf::expected<stored_batch> store_new_batch(fleet_store& store, const std::string& id, const std::string& key,
                                            const submit_limits& limits,
                                            const std::function<caf::expected<int64_t>(fleet_store&)>& insert,
                                            const std::function<caf::error(fleet_store&)>& on_existing) {
  if (!key.empty()) {
    auto found = store.batch_for_key(key);
    if (!found)
      return found.error();
    if (!found->empty()) {
      if (on_existing)
        if (auto err = on_existing(store))
          return err;
      return stored_batch{*found, 0};
    }
  }
  auto unfinished = store.unfinished_batches();
  if (!unfinished)
    return unfinished.error();
  if (auto err = validate_pending_batches(*unfinished, limits))
    return err;
  auto n = insert(store);
  if (!n)
    return n.error();
  if (!key.empty())
    if (auto err = store.set_batch_key(id, key))
      return err;
  auto first = store.first_seq(id);
  if (!first)
    return first.error();
  return stored_batch{{}, *n, *first};
}

caf::expected<stored_batch> store_new_batch(fleet_store& store, const std::string& id, const std::string& key,
                                            const submit_limits& limits, const std::vector<task>& tasks, int64_t now) {
  auto insert = [&](fleet_store& st) -> caf::expected<int64_t> {
    if (auto err = st.insert_batch(id, tasks, now))
      return err;
    return static_cast<int64_t>(tasks.size());
  };
  return store_new_batch(store, id, key, limits, insert);
}

} // namespace fleet
