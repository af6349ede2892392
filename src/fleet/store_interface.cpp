#include "fleet/store.hpp"

namespace fleet {

store_transaction::backend::~backend() = default;

store_reader::~store_reader() = default;

fleet_store::~fleet_store() = default;

caf::error fleet_store::record(const attempt_started& x) {
  auto done = record(std::vector<transition>{x});
  return done ? caf::none : done.error();
}

caf::error fleet_store::record(const attempt_ended& x) {
  auto done = record(std::vector<transition>{x});
  return done ? caf::none : done.error();
}

} // namespace fleet
