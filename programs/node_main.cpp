// A worker node as a library (fleetd/node.hpp): fleet-node and every node of a user's own are
// this. Connects to fleetd (TLS where configured), joins with its name, task types and capacity,
// runs the attempts fleetd places on it, joins again whenever it loses fleetd, and drains on
// SIGTERM/SIGINT.

#include "programs/node_main.hpp"

#include "actors/fleet_node.hpp"
#include "actors/worker_pool.hpp"
#include "client/transport.hpp"
#include "fleet/child_journal.hpp"
#include "fleet/end_process.hpp"
#include "fleet/log.hpp"
#include "fleet/orphans.hpp"
#include "fleet/node_table.hpp"
#include "fleetd/client.hpp"
#include "fleetd/error.hpp"
#include "fleetd/interfaces.hpp"
#include "fleetd/tls.hpp"
#include "fleetd/version.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <pthread.h>
#include <unistd.h>

namespace fleet {

namespace {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

/// Waits up to `ms` for SIGINT or SIGTERM; true if one came.
bool signalled_within(int64_t ms) {
  auto set = handled_signals();
  timespec wait{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1'000'000)};
  return sigtimedwait(&set, nullptr, &wait) > 0;
}

int fail(int code, const std::string& line) {
  fmt::print(stderr, "fleet-node: {}\n", line);
  return code;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0')
    return "node";
  return buf;
}

/// After a signal: the node drains; a second signal, or the drain's time and a margin, stop it.
void drain(caf::scoped_actor& self, const fleet_node_actor& node, int64_t timeout_ms) {
  self->send(node, drain_atom::value, timeout_ms);
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms + 15'000);
  for (;;) {
    bool ended = false;
    self->receive([&](caf::down_msg&) { ended = true; },
                  caf::after(std::chrono::milliseconds(200)) >> [] {});
    if (ended)
      return;
    if (signalled_within(0) || std::chrono::steady_clock::now() > until) {
      spdlog::warn("stopping at once: the running attempts run again elsewhere");
      self->send_exit(node, caf::exit_reason::user_shutdown);
      self->receive([](caf::down_msg&) {});
      return;
    }
  }
}

/// What the node actor tells the process from its thread: it needs fleetd (again).
struct membership_signal {
  std::atomic<bool> lost{false};
};

/// The registry the node offers: the one made for its options with its pools, narrowed to node.types.
caf::expected<worker_registry> offered_types(caf::actor_system& sys, const registry_maker& make_registry,
                                             const node_options& o) {
  auto registry = make_registry(o);
  if (!registry)
    return registry;
  for (const auto& pool : o.pools) {
    add_pool(sys, *registry, pool);
    spdlog::info("pool {}: {} processes of {} for {}", pool.name, pool.size, pool.argv[0], fmt::join(pool.types, ","));
  }
  if (!o.types.empty())
    if (auto err = registry->keep_only(o.types))
      return caf::make_error(errc::invalid_config, "node.types: " + error_text(err));
  if (registry->types().empty())
    return caf::make_error(errc::invalid_config, "the node has no task type to offer");
  return registry;
}

/// The node's child journal in node.state-dir (`NAME.children`: `name` is a valid node name),
/// installed, after the programs its last run left running were stopped; null when
/// node.state-dir is empty (children are then not noted).
caf::expected<std::unique_ptr<child_journal>> open_child_journal(const node_options& o, const std::string& name,
                                                                std::vector<stopped_orphan>& stopped) {
  if (o.state_dir.empty()) {
    spdlog::warn("node.state-dir is empty: the programs this node runs are not noted, and a crash of the node "
                 "may leave them running");
    return std::unique_ptr<child_journal>{};
  }
  std::error_code ec;
  std::filesystem::create_directories(o.state_dir, ec);
  if (ec)
    return caf::make_error(errc::invalid_config, fmt::format("node.state-dir {}: {}", o.state_dir, ec.message()));
  auto journal = child_journal::open(o.state_dir + "/" + name + ".children");
  if (!journal)
    return journal.error();
  for (auto& stop : take_over_children(**journal, std::chrono::milliseconds(o.orphan_grace_ms)))
    if (stop.stopped() && stopped.size() < max_stopped_orphans)
      stopped.push_back(std::move(stop));
  return journal;
}

} // namespace

int run_node_with(int argc, char** argv, const registry_maker& make_registry, node_threads threads) {
  // Before any thread exists: CAF's threads inherit the mask, and only sigtimedwait sees the signals.
  auto signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  node_config cfg{threads};
  configure_client(cfg);
  if (auto err = cfg.load_options(argc, argv))
    return fail(2, error_text(err));
  if (cfg.help_requested) {
    fmt::print("{}", cfg.help_text());
    return 0;
  }
  const auto& o = cfg.options;
  tls_files tls{o.tls_cert, o.tls_key, o.tls_ca, o.tls_server_name};
  if (auto err = check_tls_files(tls, "node.tls-"))
    return fail(2, error_text(err));
  // One fleetd, or several of which one is active (fleetd on PostgreSQL): "a:4242,b:4242".
  auto fleetds = parse_endpoints(o.fleetd_host, static_cast<uint16_t>(o.fleetd_port));
  if (!fleetds)
    return fail(2, "node.fleetd-host: " + error_text(fleetds.error()));
  for (const auto& e : *fleetds)
    if (!tls.any() && !is_loopback(e.host))
      return fail(2, fmt::format("node.fleetd-host {} is not a loopback address: a remote fleetd needs TLS "
                                 "(set node.tls-cert, node.tls-key and node.tls-ca)", e.host));
  if (tls.any())
    if (auto err = enable_tls(cfg, tls))
      return fail(2, error_text(err));
  if (auto err = init_logging(o.log_level))
    return fail(2, error_text(err));
  auto name = o.name.empty() ? host_name() : o.name;
  if (auto err = node_table::validate(node_announcement{name, {"any"}, 1, {}})) // the name alone, here
    return fail(2, error_text(err));
  // Before anything runs: a program the last run of this node left running must not run twice.
  std::vector<stopped_orphan> stopped;
  auto children = open_child_journal(o, name, stopped);
  if (!children)
    return fail(1, error_text(children.error()));
  // Before the registry: pools are actors of this system.
  caf::actor_system sys{cfg};
  configure_connections(sys, connection_limits{}, [](const std::string& line) { spdlog::warn("{}", line); });
  auto registry = offered_types(sys, make_registry, o);
  if (!registry) {
    // Like the exit below: the actor system (and any pool's processes) ends with the process.
    end_process(fail(2, error_text(registry.error())));
  }

  fleet_node_options opts;
  // What it stopped goes with it, for fleetd's audit, until a join succeeds.
  opts.announcement = node_announcement{name, registry->types(), static_cast<int32_t>(o.capacity), std::move(stopped)};
  if (auto err = node_table::validate(opts.announcement))
    return fail(2, error_text(err));
  opts.registry = std::make_shared<const worker_registry>(std::move(*registry));
  opts.hold_ms = o.rejoin_window_ms;
  auto membership = std::make_shared<membership_signal>();
  opts.on_lost = [membership](const caf::error&) { membership->lost = true; };
  spdlog::info("fleet-node {} starting as {} (configuration: {})", FLEETD_VERSION, opts.announcement.name,
               cfg.source);

  // One node actor for the whole process: the attempts it runs outlive a lost fleetd, and the
  // next join reports them (node.rejoin-window).
  auto node = sys.spawn(fleet_node, opts);
  caf::scoped_actor self{sys};
  self->monitor(node);
  int code = 0;
  bool unreachable_logged = false;
  bool need_fleetd = true;
  bool first = true;
  for (;;) {
    if (need_fleetd) {
      if (!first && signalled_within(o.reconnect_ms)) {
        drain(self, node, o.drain_timeout_ms);
        break;
      }
      first = false;
      auto manager = connect_fleet(sys, *fleetds);
      if (!manager) {
        if (manager.error() == errc::incompatible_version) {
          code = fail(2, error_text(manager.error()));
          self->send_exit(node, caf::exit_reason::user_shutdown);
          break;
        }
        if (!unreachable_logged)
          spdlog::warn("{}; trying again every {} ms", error_text(manager.error()), o.reconnect_ms);
        unreachable_logged = true;
        continue;
      }
      unreachable_logged = false;
      need_fleetd = false;
      self->send(node, rejoin_atom::value, *manager);
    }
    caf::error reason;
    bool ended = false;
    self->receive([&](caf::down_msg& msg) {
                    ended = true;
                    reason = std::move(msg.reason);
                  },
                  caf::after(std::chrono::milliseconds(200)) >> [] {});
    if (ended) {
      // The node quits on its own only when its join is refused for good.
      code = reason == errc::invalid_node || reason == errc::incompatible_version ? fail(2, error_text(reason)) : 1;
      if (code == 1)
        spdlog::error("the node actor ended: {}", error_text(reason));
      break;
    }
    if (signalled_within(0)) {
      drain(self, node, o.drain_timeout_ms);
      break;
    }
    if (membership->lost.exchange(false)) {
      spdlog::warn("left the fleet; joining again");
      need_fleetd = true;
    }
  }
  spdlog::info("fleet-node {} stopping", opts.announcement.name);
  // Like fleetd: CAF 0.17's ~actor_system can wait forever after remote peers talked to it, and a
  // task function that ignores its cancel flag may still hold a thread.
  end_process(code);
}

int run_node(int argc, char** argv, const worker_registry& registry) {
  return run_node_with(argc, argv, [&](const node_options&) -> caf::expected<worker_registry> { return registry; });
}

} // namespace fleet
