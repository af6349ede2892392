#pragma once

#include "fleet/sandbox_config.hpp"

#include "fleet/pool_spec.hpp"
#include "fleet/strict_config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace fleet {

/// What fleet-node runs with, from `[node]` in its config file and `--node.NAME=` on the command line.
/// $XDG_STATE_HOME/fleet-node, else $HOME/.local/state/fleet-node, else empty.
std::string default_node_state_dir();

struct node_options {
  std::string fleetd_host = "127.0.0.1";
  int64_t fleetd_port = 4242;
  std::string name; ///< empty: the host name
  std::vector<std::string> types; ///< empty: every type the node's registry has
  int64_t capacity = 8;
  std::vector<std::string> exec_allow; ///< programs `exec` tasks may run; empty: none
  std::vector<std::string> exec_env_allow; ///< variables a task's env may set although they change what runs
  child_sandbox exec_sandbox; ///< `[exec]`: what the programs of `exec` tasks get
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  std::string tls_server_name; ///< the name fleetd's certificate must carry; empty: the host connected to
  std::string log_level = "info";
  int64_t reconnect_ms = 1000; ///< pause between attempts to reach fleetd
  int64_t drain_timeout_ms = 30'000; ///< on SIGTERM: how long running attempts may take
  /// After losing fleetd: how long running attempts go on while the node joins again.
  int64_t rejoin_window_ms = 60'000;
  /// Where the child journal lives (`<name>.children`); empty: children are not noted.
  std::string state_dir = default_node_state_dir();
  int64_t orphan_grace_ms = 5000; ///< at start: SIGTERM to SIGKILL for programs a killed node left
  std::vector<pool_spec> pools; ///< `[pool.NAME]` sections: worker pools the node keeps running
};

/// How many of CAF's scheduler threads a node runs by default (`--scheduler.max-threads` wins).
enum class node_threads {
  /// One: every type the node offers computes outside its process (exec and pools run programs,
  /// sleep waits on a timer), so more threads only pass its messages from one to another.
  one,
  /// CAF's default, one per core: types of a node of one's own may compute in its process.
  per_core,
};

/// fleet-node's CAF configuration: CAF's own options plus the `node` group, checked strictly.
class node_config : public strict_config {
public:
  explicit node_config(node_threads threads = node_threads::per_core);

  node_options options;

private:
  caf::error apply() override;
  caf::error take_group(const std::string& name, const caf::settings& group, const std::string& where) override;
};

} // namespace fleet
