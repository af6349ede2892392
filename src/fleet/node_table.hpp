#pragma once

#include "fleetd/node_info.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace fleet {

/// The nodes of the fleet (fleetd's own workers as `local`, plus joined fleet-node processes) and
/// where the next attempt of a task type goes. Knows nothing of actors: the manager keeps the
/// handles by name.
class node_table {
public:
  /// `local_capacity` < 0: the local node has no limit of its own.
  node_table(std::vector<std::string> local_types, int32_t local_capacity);

  /// Checks a join: a name of 1-64 characters [A-Za-z0-9._-] other than "local", 1-100 types of
  /// 1-64 bytes each, a capacity of 1-10000.
  static caf::error validate(const node_announcement& a);

  /// Adds a node (replacing nothing: drop the old one first); returns its generation, which tells
  /// a rejoined node from the one it replaces.
  uint64_t add(const node_announcement& a, int64_t now);
  /// Forgets a node; false if there was none of that name.
  bool remove(const std::string& name);
  bool contains(const std::string& name) const;
  /// The generation of `name`, 0 if unknown.
  uint64_t generation(const std::string& name) const;

  /// The node for the next attempt of `type`: among those that run it, have room and do not
  /// drain, the one with
  /// the smallest share of its capacity in use (the local node first on ties). `fleet_limit` is
  /// max_concurrent_workers, the share of the local node when it has no limit of its own.
  std::optional<std::string> place(const std::string& type, int32_t fleet_limit) const;
  /// True if any node (with room or not) runs `type`.
  bool runs(const std::string& type) const;

  void started(const std::string& name);
  void finished(const std::string& name);
  void heartbeat(const std::string& name, int64_t now);
  /// The node leaves soon: nothing more is placed on it. False if there is no such remote node.
  bool set_draining(const std::string& name);
  bool draining(const std::string& name) const;

  /// Every node, the local one first.
  std::vector<node_info> list(int64_t now) const;
  /// Every task type some node runs, sorted.
  std::vector<std::string> all_types() const;
  size_t remote_count() const { return nodes_.size() - 1; }

  void set_local_capacity(int32_t capacity);

private:
  struct node {
    node_info info;
    std::set<std::string> types;
    uint64_t generation = 0;
  };
  std::map<std::string, node> nodes_;
  uint64_t next_generation_ = 1;
};

} // namespace fleet
