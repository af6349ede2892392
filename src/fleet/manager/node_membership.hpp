#pragma once

#include "fleetd/error.hpp"
#include "fleet/node_table.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fleet {

/// The fleet-nodes that joined: the node table (capacity, types, placement) and a handle per node.
/// `Handle` is what messages go to (the manager: a node actor); it has `node()`, the process it
/// lives in, and `address()`, which a down message names. Knows nothing of actors: the manager
/// monitors, sends heartbeats and records events.
///
/// Invariant: a name has a handle exactly when the table has a remote node of that name.
template <class Handle>
class node_membership {
public:
  enum class join { fresh, again };

  node_membership(std::vector<std::string> local_types, int32_t local_capacity)
    : table_(std::move(local_types), local_capacity) {
  }

  /// Whether `a` may join from `who`: `again` when the same process joins again after losing
  /// fleetd (the caller drops the old membership first); an error for a bad announcement or a
  /// name another process holds (two of them would keep dropping each other).
  caf::expected<join> check(const node_announcement& a, const Handle& who, int64_t node_timeout_ms) const {
    if (auto err = node_table::validate(a))
      return err;
    auto h = handles_.find(a.name);
    if (h == handles_.end())
      return join::fresh;
    if (h->second.node() != who.node())
      return caf::make_error(errc::node_name_taken,
                             fmt::format("another fleet-node process is joined as {}: choose another "
                                         "node.name, or wait until fleetd drops that one ({} ms "
                                         "without an answer to heartbeats)",
                                         a.name, node_timeout_ms));
    return join::again;
  }

  /// Adds a node that passed `check` (and whose old membership was removed); returns its generation.
  uint64_t add(const node_announcement& a, Handle who, int64_t now) {
    auto generation = table_.add(a, now);
    handles_.insert_or_assign(a.name, std::move(who));
    return generation;
  }

  /// Forgets a node; its handle, or none if it was not a member.
  std::optional<Handle> remove(const std::string& name) {
    auto h = handles_.find(name);
    if (h == handles_.end())
      return std::nullopt;
    auto out = std::move(h->second);
    handles_.erase(h);
    table_.remove(name);
    return out;
  }

  const Handle* handle(const std::string& name) const {
    auto h = handles_.find(name);
    return h != handles_.end() ? &h->second : nullptr;
  }

  /// The member whose handle has address `addr`.
  template <class Address>
  std::optional<std::string> name_of(const Address& addr) const {
    for (const auto& [name, who] : handles_)
      if (who.address() == addr)
        return name;
    return std::nullopt;
  }

  /// Whether a heartbeat's answer (or failure) for `name`, sent when its generation was
  /// `generation`, is still about the same membership.
  bool current(const std::string& name, uint64_t generation) const {
    return table_.generation(name) == generation;
  }

  /// The members by name, for heartbeats.
  const std::map<std::string, Handle>& handles() const { return handles_; }
  bool empty() const { return handles_.empty(); }
  /// How many nodes, fleetd's own included.
  size_t count() const { return handles_.size() + 1; }

  node_table& table() { return table_; }
  const node_table& table() const { return table_; }

private:
  node_table table_;
  std::map<std::string, Handle> handles_;
};

} // namespace fleet
