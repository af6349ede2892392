#include "fleet/node_config.hpp"

#include <caf/atom.hpp>
#include <caf/settings.hpp>

#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/common.h>

#include <algorithm>

namespace fleet {

namespace {

const std::vector<option_spec>& node_option_specs() {
  static const std::vector<option_spec> specs{
    {"fleetd-host", value_kind::text, "address of fleetd, or several as host:port,host:port (fleetd on PostgreSQL with standbys: the node joins whichever is active, and the next after a failover) (default 127.0.0.1)"},
    {"fleetd-port", value_kind::integer, "port of fleetd (default 4242)"},
    {"name", value_kind::text, "this node's name in the fleet: 1-64 of A-Z a-z 0-9 . _ - (default: the host name)"},
    {"types", value_kind::text, "task types this node runs, comma-separated (default: every type it has; fleet-node: echo, sleep, fail, and exec when exec-allow names programs)"},
    {"capacity", value_kind::integer, "attempts this node runs at once (default 8)"},
    {"exec-allow", value_kind::text, "programs `exec` tasks may run here, comma-separated argv[0] values (default \"\": none)"},
    {"exec-env-allow", value_kind::text, "variables a task's exec env may set here although they change what runs (LD_*, PATH, ...), comma-separated (default \"\": none)"},
    {"tls-cert", value_kind::text, "PEM certificate (chain) this node presents to fleetd; with tls-key and tls-ca: TLS"},
    {"tls-key", value_kind::text, "PEM private key of tls-cert (no passphrase)"},
    {"tls-ca", value_kind::text, "PEM certificate of the CA that signs fleetd's certificate"},
    {"tls-server-name", value_kind::text, "the name fleetd's certificate must carry (default: the fleetd host connected to)"},
    {"log-level", value_kind::text, "trace|debug|info|warn|error|off (default info)"},
    {"reconnect", value_kind::integer, "ms between attempts to reach fleetd (default 1000)"},
    {"rejoin-window", value_kind::integer, "ms the attempts of a node that lost fleetd run on while it joins again: fleetd, restarted or a standby that took over, takes their outcomes; 0 stops them at once (default 60000)"},
    {"drain-timeout", value_kind::integer, "on SIGTERM, ms running attempts may take to finish before the node leaves; the rest run again elsewhere (default 30000)"},
    {"state-dir", value_kind::text, "where the node notes the programs it runs, so that a restart after a crash stops those still running: a directory only this user may write (default $XDG_STATE_HOME/fleet-node or ~/.local/state/fleet-node; \"\": not noted)"},
    {"orphan-grace", value_kind::integer, "at start, ms the programs a killed node left running get between SIGTERM and SIGKILL (default 5000)"},
  };
  return specs;
}

} // namespace

std::string default_node_state_dir() {
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && xdg[0] == '/')
    return std::string{xdg} + "/fleet-node";
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/')
    return std::string{home} + "/.local/state/fleet-node";
  return {};
}

node_config::node_config(node_threads threads)
  : strict_config("node", node_option_specs(),
                  "usage: fleet-node [--config-file=FILE] [--node.NAME=VALUE]...\n\n"
                  "Joins fleetd as a worker node and runs the attempts fleetd places on it; SIGTERM drains it.\n"
                  "Options (section [node] in the config file, --node.NAME=VALUE on the command line,\n"
                  "which wins over the file):\n",
                  "\nCAF's own options: --long-help. Worker pools: sections [pool.NAME] with argv, types\n"
                  "and size, as in fleetd's config file (docs/WORKER-PROTOCOL.md).\n") {
  groups_ = {"pool", "exec"};
  // A node's scheduler threads mostly pass messages between fleetd and short-lived workers: CAF's
  // work stealing polls for them (and takes the cores fleetd and the workers need), work sharing
  // waits on a condition. 1.8x the no-op throughput through a node on 2 cores (docs/BENCHMARKS.md).
  // --scheduler.policy=stealing (or the config file's [scheduler]) still chooses otherwise.
  caf::put(content, "scheduler.policy", caf::atom("sharing"));
  // A second thread on such a node hands each message to the other (a wake-up per hop): one thread
  // ran no-op tasks through a node 1.5x as fast on 2 cores (docs/BENCHMARKS.md).
  if (threads == node_threads::one)
    caf::put(content, "scheduler.max-threads", 1);
}

caf::error node_config::take_group(const std::string& name, const caf::settings& group, const std::string& where) {
  if (name == "exec")
    return read_sandbox(group, where, "exec", options.exec_sandbox);
  return read_pools(group, where, options.pools);
}

caf::error node_config::apply() {
  auto& o = options;
  text("fleetd-host", o.fleetd_host);
  integer("fleetd-port", o.fleetd_port);
  text("name", o.name);
  std::string types;
  text("types", types);
  if (!types.empty())
    o.types = split_list(types);
  integer("capacity", o.capacity);
  std::string exec_allow;
  text("exec-allow", exec_allow);
  o.exec_allow = split_list(exec_allow);
  std::string exec_env_allow;
  text("exec-env-allow", exec_env_allow);
  o.exec_env_allow = split_list(exec_env_allow);
  text("tls-cert", o.tls_cert);
  text("tls-key", o.tls_key);
  text("tls-ca", o.tls_ca);
  text("tls-server-name", o.tls_server_name);
  text("log-level", o.log_level);
  integer("reconnect", o.reconnect_ms);
  integer("drain-timeout", o.drain_timeout_ms);
  integer("rejoin-window", o.rejoin_window_ms);
  text("state-dir", o.state_dir);
  integer("orphan-grace", o.orphan_grace_ms);
  if (o.fleetd_host.empty())
    return config_error("node.fleetd-host must name an address, e.g. 127.0.0.1");
  if (auto err = range("fleetd-port", o.fleetd_port, 1, 65535))
    return err;
  if (auto err = range("capacity", o.capacity, 1, 10'000))
    return err;
  if (auto err = range("reconnect", o.reconnect_ms, 10, 3'600'000, " ms"))
    return err;
  if (auto err = range("orphan-grace", o.orphan_grace_ms, 0, 600'000, " ms"))
    return err;
  if (auto err = range("drain-timeout", o.drain_timeout_ms, 0, 3'600'000, " ms"))
    return err;
  if (auto err = range("rejoin-window", o.rejoin_window_ms, 0, 3'600'000, " ms"))
    return err;
  if (spdlog::level::from_str(o.log_level) == spdlog::level::off && o.log_level != "off")
    return config_error(fmt::format("node.log-level must be trace, debug, info, warn, error or off (got \"{}\")",
                                    o.log_level));
  if (auto err = validate(o.pools))
    return err;
  if (auto err = resolve_sandboxes(o.pools))
    return err;
  if (auto err = resolve(o.exec_sandbox, "exec"))
    return err;
  return caf::none;
}

} // namespace fleet
