#pragma once

// What fleetctl's commands share: the connection to fleetd, and the commands of submit.cpp
// (submitting a task file, waiting for a batch) that commands.cpp's table names.

#include "commands.hpp"

#include "fleetd/batch_state.hpp"
#include "fleetd/client.hpp"
#include "fleetd/fleet_config.hpp"

#include <caf/actor_system.hpp>

#include <chrono>
#include <cstdint>
#include <istream>
#include <optional>

namespace fleetctl {

/// A connection to fleetd that `wait` can re-establish when fleetd restarts.
struct session {
  caf::actor_system& sys;
  const invocation& inv;
  std::optional<fleet::fleet_client> client;
  std::istream* input = nullptr;   ///< submit: the task file, or stdin
  int32_t workers = 0;             ///< scale
  fleet::config_update update;     ///< config set

  caf::error connect() {
    // One address or several (--host a:4242,b:4242): the first fleetd that answers.
    auto endpoints = fleet::parse_endpoints(inv.host, inv.port);
    if (!endpoints)
      return endpoints.error();
    auto c = fleet::fleet_client::connect(sys, *endpoints, std::chrono::milliseconds(inv.timeout_ms));
    if (!c)
      return c.error();
    client.emplace(std::move(*c));
    return caf::none;
  }
};

/// A batch's status as a table, or as JSON.
int print_status(const fleet::batch_status& st, bool json);

/// `submit FILE|-`: the tasks, then (with --wait) the wait.
int cmd_submit_file(session& s);

/// `wait BATCH`.
int cmd_wait(session& s);

/// `schedule add|list|pause|resume|rm|run` (schedule.cpp).
int cmd_schedule(session& s);

/// `graph BATCH [--dot]` (graph.cpp).
int cmd_graph(session& s);

/// `queues` and `queue set NAME KEY=VALUE...` (queues.cpp).
int cmd_queues(session& s);
int cmd_queue(session& s);

} // namespace fleetctl
