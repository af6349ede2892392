// fleet-nodes inside the test process, for the node suites: the node actor fleet-node runs, and
// a scripted node whose messages the test reads and whose outcomes the test writes.

#pragma once

#include "actors/fleet_node.hpp"
#include "fleet_fixture.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace fleet::test {

inline std::shared_ptr<worker_registry> builtin_registry(const std::vector<std::string>& types) {
  auto reg = std::make_shared<worker_registry>();
  add_builtin_workers(*reg);
  REQUIRE_FALSE(reg->keep_only(types));
  return reg;
}

inline fleet_node_actor join_node(fleet_fixture& f, std::string name, std::vector<std::string> types, int32_t capacity,
                           std::shared_ptr<worker_registry> reg = nullptr) {
  fleet_node_options opts;
  opts.manager = f.manager();
  opts.announcement = node_announcement{std::move(name), types, capacity, {}};
  opts.registry = reg ? reg : builtin_registry(types);
  auto node = f.sys().spawn(fleet_node, opts);
  f.run();
  return node;
}

/// A node that, like fleet-node, runs its attempts on for 60 s when it loses fleetd and keeps their
/// outcomes, then joins again when told to (`rejoin`); `losses` counts its losses of fleetd.
inline fleet_node_actor join_holding_node(fleet_fixture& f, std::string name, std::vector<std::string> types,
                                          int32_t capacity, std::shared_ptr<worker_registry> reg,
                                          std::shared_ptr<int> losses) {
  fleet_node_options opts;
  opts.manager = f.manager();
  opts.announcement = node_announcement{std::move(name), std::move(types), capacity, {}};
  opts.registry = std::move(reg);
  opts.on_lost = [losses](const caf::error&) { ++*losses; };
  opts.hold_ms = 60'000;
  auto node = f.sys().spawn(fleet_node, opts);
  f.run();
  return node;
}

/// The node joins `f`'s manager again, as its process does once it reconnects.
inline void rejoin(fleet_fixture& f, const fleet_node_actor& node) {
  caf::scoped_actor process{f.sys()}; // a rejoin comes from the node's own process
  process->send(node, rejoin_atom::value, caf::actor_cast<fleet_api_actor>(f.manager()));
}

inline node_info node_named(fleet_fixture& f, const std::string& name) {
  auto nodes = f.ask<std::vector<node_info>>(nodes_atom::value);
  REQUIRE(nodes);
  for (const auto& n : *nodes)
    if (n.name == name)
      return n;
  return {};
}

/// Each task of the database succeeded exactly once.
inline void check_each_task_succeeded_once(fleet_fixture& f, int64_t tasks) {
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == tasks);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == tasks);
  CHECK(f.query_int("SELECT count(DISTINCT task_seq) FROM attempts WHERE outcome = 'succeeded'") == tasks);
}

/// What a silent node was given: each message's attempts.
struct silent_record {
  std::vector<std::vector<node_attempt>> messages;
  std::string dropped_reason;
};

struct silent_node_state {
  std::vector<caf::typed_response_promise<int32_t>> heartbeats;
};

/// A node the test speaks for: it reports the outcomes the test hands it, as itself.
using scripted_node_actor = node_actor::extend<caf::reacts_to<outcomes_atom, std::vector<node_outcome>>>;

/// Joins, then answers nothing (a node on the far side of a cut cable), unless the test hands it
/// outcomes to report as node `name`.
inline scripted_node_actor::behavior_type silent_node(scripted_node_actor::stateful_pointer<silent_node_state> self,
                                               std::shared_ptr<silent_record> record, fleet_api_actor manager,
                                               std::string name) {
  return {
    [record](execute_atom, std::vector<node_attempt>& work) { record->messages.push_back(std::move(work)); },
    [](stop_atom, const std::string&) {},
    [self](heartbeat_atom) -> caf::result<int32_t> {
      self->state.heartbeats.push_back(self->make_response_promise<int32_t>());
      return self->state.heartbeats.back();
    },
    [record](dropped_atom, const std::string& reason) { record->dropped_reason = reason; },
    [self, manager, name](outcomes_atom, std::vector<node_outcome>& outcomes) {
      self->send(manager, outcomes_atom::value, name, std::move(outcomes));
    },
  };
}

inline scripted_node_actor spawn_silent(fleet_fixture& f, std::shared_ptr<silent_record> record, std::string name) {
  return f.sys().spawn(silent_node, std::move(record), f.manager(), std::move(name));
}

/// A silent node joined as `name` for echo tasks.
inline scripted_node_actor join_silent(fleet_fixture& f, std::shared_ptr<silent_record> record, const std::string& name,
                                int32_t capacity) {
  auto node = spawn_silent(f, std::move(record), name);
  REQUIRE(f.ask<node_welcome>(node_join_atom::value, node_announcement{name, {"echo"}, capacity, {}},
                              node_actor{node}));
  return node;
}

} // namespace fleet::test
