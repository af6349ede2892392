#pragma once

// A worker node of your own: your task types, run on fleetd's behalf in a process of yours.
//
//   int main(int argc, char** argv) {
//     fleet::worker_registry registry;
//     registry.add_function("hash", [](const fleet::task_context& ctx, const nlohmann::json& data)
//                                     -> caf::expected<nlohmann::json> { ... });
//     return fleet::run_node(argc, argv, registry);
//   }
//
// Link fleetd::node. The options and config file are fleet-node's (`--node.*`, `--config-file`).

#include "fleetd/worker.hpp"

namespace fleet {

/// fleet-node's whole life with the types of `registry`: options and config file, TLS, joining
/// fleetd and joining again whenever it loses fleetd, and the drain on SIGTERM or SIGINT (no new
/// attempts; running ones get node.drain-timeout to finish, then the node leaves and fleetd runs
/// what is left elsewhere). `node.types` narrows what it offers (default: every registered
/// type). Returns the exit status: 0 after a drain, 2 for bad options or a refused join.
int run_node(int argc, char** argv, const worker_registry& registry);

} // namespace fleet
