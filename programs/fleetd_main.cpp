// fleetd: the fleet manager daemon. Opens the SQLite store, resumes unfinished work, publishes the
// fleet manager for CAF nodes and fleetctl, and drains on SIGTERM/SIGINT.
// Usage: fleetd [--config-file=config/fleetd.ini] [--fleet.NAME=VALUE]...   (--help for all)

#include "fleetd/daemon.hpp"
#include "fleetd/version.hpp"

#include "actors/builtin_workers.hpp"
#include "actors/fleet_manager.hpp"
#include "actors/worker_pool.hpp"
#include "fleetd/interfaces.hpp"
#include "fleetd/tls.hpp"
#include "client/transport.hpp"
#include "fleet/batch_tasks.hpp"
#include "fleet/child_journal.hpp"
#include "fleet/daemon_config.hpp"
#include "fleet/end_process.hpp"
#include "fleetd/error.hpp"
#include "fleet/fd_limit.hpp"
#include "fleet/instance_lock.hpp"
#include "fleet/leadership.hpp"
#include "fleet/pg_archive.hpp"
#include "fleet/pg_batch_tasks.hpp"
#include "fleet/pg_migrations.hpp"
#include "fleet/pg_store.hpp"
#include "fleet/log.hpp"
#include "fleet/orphans.hpp"
#include "web/http_server.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <cstring>
#include <filesystem>
#include <pthread.h>
#include <atomic>
#include <thread>
#include <unistd.h>

using namespace fleet;

namespace {

// Sent by the watcher when the manager ends on its own (it should not): fleetd then exits 1.
constexpr int manager_died_signal = SIGUSR1;
/// fleetd on PostgreSQL lost its lease and stepped down (EX_TEMPFAIL: systemd's Restart= starts it
/// again, as a standby).
constexpr int lost_lease_exit_code = 75;

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, manager_died_signal);
  return set;
}

int fail(int code, const std::string& line) {
  fmt::print(stderr, "fleetd: {}\n", line);
  return code;
}

caf::error prepare_db_directory(const std::string& db) {
  auto dir = std::filesystem::path(db).parent_path();
  if (dir.empty())
    return caf::none;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return caf::make_error(errc::invalid_config,
                           fmt::format("cannot create the database directory {}: {}", dir.string(), ec.message()));
  return caf::none;
}

/// Asks the manager for its configuration: it answers once its start-up (recovery) succeeded. A
/// manager that could not start quits with the reason, which the monitor carries here.
caf::expected<fleet_config> wait_until_ready(caf::actor_system& sys, const fleet_manager_actor& manager) {
  caf::expected<fleet_config> out{caf::make_error(errc::unreachable, "no answer")};
  caf::scoped_actor self{sys};
  self->monitor(manager);
  self->request(manager, caf::infinite, get_config_atom::value)
    .receive([&](fleet_config& cfg) { out = cfg; }, [&](caf::error& err) { out = std::move(err); });
  if (!out)
    self->receive([&](caf::down_msg& down) {
      if (down.reason)
        out = std::move(down.reason);
    });
  return out;
}

/// The guard's limits with max-connections kept within the descriptors the process has: half of
/// them, the rest being for the database, programs' pipes and the HTTP port.
connection_limits connection_limits_for(connection_limits wanted, descriptor_limit fds) {
  if (fds.now > fds.before)
    spdlog::info("file descriptor limit raised from {} to {}", fds.before, fds.now);
  auto room = fds.now / 2;
  if (room > 0 && wanted.max_connections > room) {
    spdlog::warn("fleet.max-connections {} is more than half the file descriptor limit ({}): {} connections at "
                 "most",
                 wanted.max_connections, fds.now, room);
    wanted.max_connections = room;
    wanted.max_connections_per_peer = std::min(wanted.max_connections_per_peer, room);
  }
  return wanted;
}

/// What fleetd found on disk before SQLite opened the file.
void log_file_state(const std::string& db, const instance_lock::file_state& state) {
  if (state.created)
    spdlog::info("no database at {}: creating a new one", db);
  if (state.was_empty)
    spdlog::warn("database {} is an empty file (0 bytes): initialising a new database in it. If it should "
                 "hold fleetd's data, stop fleetd now and restore it from a backup",
                 db);
  if (state.links > 1)
    spdlog::warn("database {} has {} hard links: SQLite names its journal files after the path, so always open "
                 "it by the same name",
                 db, state.links);
}

} // namespace

int fleet::run_daemon(int argc, char** argv, const daemon_extensions& ext) {
  // Before any thread exists: CAF's threads inherit the mask, and only sigwait below sees them.
  auto signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  daemon_config cfg;
  load_guarded_middleman(cfg);
  register_fleet_types(cfg);
  if (auto err = cfg.load_options(argc, argv))
    return fail(2, error_text(err));
  if (cfg.help_requested) {
    fmt::print("{}", cfg.help_text());
    return 0;
  }
  const auto& o = cfg.options;
  tls_files tls{o.tls_cert, o.tls_key, o.tls_ca, {}};
  if (auto err = check_tls_files(tls, "fleet.tls-"))
    return fail(2, error_text(err));
  if (!tls.any() && !is_loopback(o.host))
    return fail(2, fmt::format("fleet.host {} is not a loopback address: remote connections need TLS "
                               "(set fleet.tls-cert, fleet.tls-key and fleet.tls-ca)", o.host));
  if (!tls.any() && !o.plaintext_loopback)
    return fail(2, "no TLS configured: set fleet.tls-cert, fleet.tls-key and fleet.tls-ca, or "
                   "fleet.plaintext-loopback=true to accept plain TCP on the loopback address");
  if (o.http_port >= 0 && o.http_actions && !is_loopback(o.http_host))
    return fail(2, fmt::format("fleet.http-actions needs a loopback fleet.http-host (got {}): the status "
                               "page has no authentication, so whoever reaches it could cancel batches",
                               o.http_host));
  std::shared_ptr<const api_tokens> http_tokens;
  if (o.http_port >= 0 && !o.http_tokens_file.empty()) {
    auto tokens = api_tokens::read_file(o.http_tokens_file);
    if (!tokens)
      return fail(2, error_text(tokens.error()));
    http_tokens = std::make_shared<const api_tokens>(std::move(*tokens));
  }
  if (o.http_port >= 0 && !is_loopback(o.http_host) && (o.http_tls_cert.empty() || !http_tokens))
    return fail(2, fmt::format("fleet.http-host {} is not loopback: the HTTP port then needs HTTPS and tokens "
                               "(set fleet.http-tls-cert, fleet.http-tls-key and fleet.http-tokens-file)",
                               o.http_host));
  if (tls.any())
    if (auto err = enable_tls(cfg, tls))
      return fail(2, error_text(err));
  if (auto err = init_logging(o.log_level))
    return fail(2, error_text(err));
  spdlog::info("fleetd {} starting (configuration: {})", FLEETD_VERSION, cfg.source);
  auto descriptors = raise_descriptor_limit();
  auto connections = connection_limits_for(o.connections, descriptors);

  if (auto err = prepare_db_directory(o.db))
    return fail(1, error_text(err));
  auto lock = instance_lock::acquire(o.db);
  if (!lock)
    return fail(1, error_text(lock.error()));
  // On PostgreSQL the file holds only this process's lock and journals, not the fleet's data.
  if (o.store != "postgres")
    log_file_state(o.db, lock->state());
  auto journal = start_journal::open(o.db + "-starts");
  if (!journal)
    return fail(1, error_text(journal.error()));
  // Before anything runs again: a program the last run left running must not run twice.
  auto children = child_journal::open(o.db + "-children");
  if (!children)
    return fail(1, error_text(children.error()));
  auto orphans = take_over_children(**children, std::chrono::milliseconds(o.orphan_grace_ms));
  // On PostgreSQL, the store is opened by the fleetd that holds the lease; the others wait here.
  std::unique_ptr<leader_lease> lease;
  std::unique_ptr<lease_keeper> keeper;
  std::unique_ptr<fleet_store> store;
  if (o.store == "postgres") {
    // A standby notices an expired lease one poll late at worst, and the holder renews one
    // interval before: the lease is shorter than fleet.failover-timeout by both, so that a standby
    // holds it within the timeout of the holder's death.
    auto failover = std::chrono::milliseconds(o.failover_timeout_ms);
    auto ttl = failover - 2 * lease_interval(failover);
    lease = std::make_unique<leader_lease>(lease_holder_name(), ttl);
    int sig = 0;
    auto connected = connect_standby(o.postgres, lease_interval(ttl), [](pg::connection& db) { return migrate(db); },
                                     signals, sig);
    if (!connected)
      return fail(1, fmt::format("PostgreSQL (fleet.postgres): {}", error_text(connected.error())));
    if (!*connected) {
      spdlog::info("{} received while standby: fleetd stopped", strsignal(sig));
      return 0;
    }
    auto lease_db = std::move(*connected);
    spdlog::info("PostgreSQL {}: standby as {} until this fleetd holds the lease (fleet.failover-timeout {} ms: "
                 "a lease of {} ms renewed every {} ms)",
                 lease_db->where().text(), lease->holder(), failover.count(), ttl.count(),
                 lease_interval(ttl).count());
    auto active = wait_for_lease(*lease_db, *lease, signals, sig);
    if (!active)
      return fail(1, fmt::format("PostgreSQL {}: {}", lease_db->where().text(), error_text(active.error())));
    if (!*active) {
      spdlog::info("{} received while standby: fleetd stopped", strsignal(sig));
      return 0;
    }
    spdlog::info("active manager of {}: term {}", lease_db->where().text(), lease->epoch());
    // Exiting is the one way to be sure that no worker of this process starts another attempt
    // and no outcome is written: its service manager starts it again, as a standby.
    // The lease keeper and the writer (a COMMIT that may or may not have happened) can both find
    // a reason at once: the first one exits, the other waits for that.
    auto step_down = [](const std::string& reason) {
      static std::atomic<bool> stepping{false};
      if (stepping.exchange(true))
        for (;;)
          ::pause();
      spdlog::critical("stepping down: {}; fleetd exits at once (code {})", reason, lost_lease_exit_code);
      end_process(lost_lease_exit_code);
    };
    keeper = std::make_unique<lease_keeper>(std::move(*lease_db), *lease, step_down);
    auto opened = pg_store::open(o.postgres, lease.get());
    if (!opened)
      return fail(1, fmt::format("PostgreSQL (fleet.postgres): {}", error_text(opened.error())));
    (*opened)->on_ambiguous_commit(step_down);
    store = std::move(*opened);
    if (auto m = store->migration(); m.from != m.to)
      spdlog::info("PostgreSQL {}: migrated from schema version {} to {} in {} ms", store->file(), m.from, m.to,
                   m.ms);
  } else {
    auto opened = fleet_store::open({o.db, o.synchronous, o.max_db_size_mib, o.start_check == "quick", true});
    if (!opened)
      return fail(1, fmt::format("database {}: {}", o.db, error_text(opened.error())));
    store = std::move(*opened);
    auto size_mib = static_cast<double>(lock->state().size) / (1 << 20);
    if (auto m = store->migration(); m.from > 0 && m.from != m.to)
      spdlog::info("database {}: migrated from schema version {} to {} in {} ms", o.db, m.from, m.to, m.ms);
    if (store->integrity_check_ms() >= 0)
      spdlog::info("database {} (synchronous={}, {:.1f} MiB): PRAGMA quick_check ok in {} ms", o.db, o.synchronous,
                   size_mib, store->integrity_check_ms());
    else
      spdlog::info("database {} (synchronous={}, {:.1f} MiB): not checked (fleet.start-check=off)", o.db,
                   o.synchronous, size_mib);
  }

  caf::actor_system sys{cfg};
  configure_connections(sys, connections, [](const std::string& line) { spdlog::warn("{}", line); });
  auto registry = std::make_shared<worker_registry>();
  add_builtin_workers(*registry, o.exec_allow, o.exec_env_allow, o.exec_sandbox);
  if (!o.exec_allow.empty())
    spdlog::info("exec: {}", o.exec_sandbox.describe());
  for (const auto& pool : o.pools) {
    add_pool(sys, *registry, pool);
    spdlog::info("pool {}: {} processes of {} for {} ({})", pool.name, pool.size, pool.argv[0],
                 fmt::join(pool.types, ","), pool.sandbox.describe());
  }
  if (ext.add_task_types)
    ext.add_task_types(*registry);
  fleet_manager_options opts;
  opts.store = std::move(store);
  std::weak_ptr<fleet_store> store_alive = opts.store;
  opts.initial_config = o.fleet;
  opts.registry = registry;
  if (ext.hooks)
    opts.hooks = ext.hooks;
  opts.max_pending_transitions = static_cast<size_t>(o.commit_batch);
  opts.commit_delay_ms = o.commit_delay_ms;
  opts.writer_thread = true;
  opts.limits = o.limits;
  opts.limits.max_message_bytes = connections.max_message_bytes;
  opts.autoscale = o.autoscale;
  opts.user_autoscale = ext.autoscale;
  opts.local_capacity = static_cast<int32_t>(o.local_workers);
  opts.node_heartbeat_ms = o.node_heartbeat_ms;
  opts.node_timeout_ms = o.node_timeout_ms;
  // A node that lost this fleetd's predecessor rejoins within about its reconnect interval: the
  // node timeout is the same bound the heartbeats give it.
  opts.node_rejoin_ms = o.node_timeout_ms;
  opts.node_start_delay_ms = o.node_start_delay_ms;
  opts.max_task_result = static_cast<size_t>(o.max_task_result);
  opts.max_dependency_results = static_cast<size_t>(o.max_dependency_results);
  opts.node_names_from_certificates = o.node_names == "certificate";
  opts.clock_check_ms = 1000; // the wall clock's steps are followed within a second
  opts.max_interruptions = static_cast<int32_t>(o.max_interruptions);
  opts.retain_finished_ms = o.retain_finished_ms;
  opts.retain_events_ms = o.retain_events_ms;
  opts.declared_schedules = o.schedules;
  opts.declared_queues = o.queues;
  opts.archive_dir = o.archive_dir;
  if (o.store == "postgres" && !o.archive_dir.empty()) {
    auto archive = std::make_shared<pg_archive>(o.postgres, o.archive_dir);
    opts.archive = [archive](const std::string& batch_id, int64_t finished_at) {
      return archive->write(batch_id, finished_at);
    };
  }
  opts.journal = std::move(*journal);
  opts.orphans = std::move(orphans);
  auto list = [](const std::vector<std::string>& xs) { return fmt::format("{}", fmt::join(xs, ",")); };
  opts.run = fleet_manager_options::run_identity{
    FLEETD_VERSION, static_cast<int64_t>(::getpid()),
    {{"config-file", cfg.source}, {"store", o.store},
     {"db", o.store == "postgres" ? opts.store->file() : o.db}, {"synchronous", o.synchronous},
     {"host", o.host}, {"port", std::to_string(o.port)}, {"tls", tls.any() ? "mutual" : "off"},
     {"http-port", std::to_string(o.http_port)}, {"http-host", o.http_host},
     {"http-tokens", o.http_tokens_file.empty() ? "off" : "on"}, {"local-workers", std::to_string(o.local_workers)},
     {"exec-allow", list(o.exec_allow)}, {"exec-env-allow", list(o.exec_env_allow)},
     {"exec", o.exec_sandbox.describe()},
     {"max-interruptions", std::to_string(o.max_interruptions)},
     {"retain-finished", std::to_string(o.retain_finished_ms)}, {"retain-events", std::to_string(o.retain_events_ms)},
     {"commit-delay", std::to_string(o.commit_delay_ms)}, {"pools", std::to_string(o.pools.size())},
     {"queues", std::to_string(o.queues.size())}, {"schedules", std::to_string(o.schedules.size())}}};
  auto metrics = opts.metrics;
  // A fleetd that runs attempts itself trades a message with a worker actor for each: on the
  // scheduler's threads that needs no wake-up of another thread. One that runs none (local-workers
  // = 0) hears from fleet-nodes through the middleman's thread, and a thread of its own, woken at
  // once, is faster there (docs/BENCHMARKS.md, 2026-12-06 17:50).
  auto manager = spawn_fleet_manager(sys, std::move(opts), o.local_workers == 0);
  auto ready = wait_until_ready(sys, manager);
  if (!ready)
    return fail(1, fmt::format("cannot start the fleet manager: {}", error_text(ready.error())));

  fleet_api_actor api{manager};
  auto port = publish_actor(sys, caf::actor_cast<caf::strong_actor_ptr>(api), sys.message_types(api), o.host,
                            static_cast<uint16_t>(o.port));
  if (!port) {
    caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
    return fail(1, fmt::format("cannot listen on {}:{} (port in use, or not an address of this "
                               "machine): {}",
                               o.host, o.port, error_text(port.error())));
  }
  std::unique_ptr<http_server> http;
  if (o.http_port >= 0) {
    http_options web;
    web.host = o.http_host;
    web.port = static_cast<uint16_t>(o.http_port);
    web.actions = o.http_actions;
    web.tokens = http_tokens;
    web.max_body_bytes = static_cast<size_t>(o.http_max_body_mib) << 20;
    web.max_streams = static_cast<size_t>(o.http_max_streams);
    web.tls_cert = o.http_tls_cert;
    web.tls_key = o.http_tls_key;
    // The batch page reads its tasks beside the manager, from the SQLite file or a PostgreSQL
    // session of its own.
    if (o.store == "sqlite") {
      web.read_tasks = [db = o.db](const std::string& id, int64_t cursor, int64_t limit) {
        return read_batch_tasks(db, id, cursor, limit);
      };
    } else {
      auto pages = std::make_shared<pg_batch_tasks>(o.postgres);
      web.read_tasks = [pages](const std::string& id, int64_t cursor, int64_t limit) {
        return pages->read(id, cursor, limit);
      };
    }
    // Within the descriptors: a quarter for connections still sending (the CAF port has half).
    web.max_waiting = std::clamp<size_t>(descriptors.now / 4, 16, 1024);
    auto started = http_server::start(sys, manager, metrics, web);
    if (!started) {
      caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
      return fail(1, error_text(started.error()));
    }
    http = std::move(*started);
    spdlog::info("{} on {}:{}: status page /, metrics /metrics, API /api/v1 ({}; page {})",
                 o.http_tls_cert.empty() ? "http" : "https", o.http_host, http->port(),
                 http_tokens ? fmt::format("{} tokens", http_tokens->size()) : std::string{"read-only, no tokens"},
                 o.http_actions ? "actions on: the page may cancel, pause and resume" : "read-only");
  }
  // Last, once every port is up: scripts and tests take this line as "fleetd is ready".
  spdlog::info("listening on {}:{} ({}); {} workers at most, worker timeout {} ms", o.host, *port,
               tls.any() ? "TLS, client certificates signed by " + o.tls_ca + " required" : "plain TCP, loopback",
               ready->max_concurrent_workers, ready->worker_timeout_ms);

  auto watcher = sys.spawn([manager](caf::event_based_actor* self) {
    self->monitor(manager);
    self->set_down_handler([](caf::down_msg&) { kill(getpid(), manager_died_signal); });
    return caf::behavior{[](int) {}};
  });

  int sig = 0;
  sigwait(&signals, &sig);
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  auto unpublish = [&] {
    if (auto err = unpublish_actor(sys, manager.address(), *port))
      spdlog::warn("unpublish: {}", error_text(err));
  };
  if (sig == manager_died_signal) {
    http.reset();
    unpublish();
    return fail(1, "the fleet manager stopped unexpectedly; see the log above");
  }
  spdlog::info("{} received: taking no new work, giving running attempts up to {} ms", strsignal(sig),
               o.drain_timeout_ms);
  {
    caf::scoped_actor self{sys};
    self->request(manager, caf::infinite, drain_atom::value, o.drain_timeout_ms)
      .receive([](int32_t interrupted) {
                 if (interrupted == 0)
                   spdlog::info("drained: no attempt left running");
               },
               [](caf::error& err) { spdlog::error("drain failed: {}", error_text(err)); });
  }
  // The page keeps showing the drain; it goes before the manager does.
  http.reset();
  unpublish();
  {
    // Not await_all_actors_done: a daemon of a user's may keep actors of its own (a long-lived
    // worker of its hooks) that never end; the manager's end is what closes the database.
    caf::scoped_actor self{sys};
    self->monitor(manager);
    caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {});
  }
  // The manager's state (and with it the store) goes as the manager ends; give that a moment.
  for (int i = 0; i < 500 && !store_alive.expired(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!store_alive.expired()) {
    spdlog::error("the database is still open after shutdown");
    return 1;
  }
  if (keeper) {
    if (auto err = keeper->release())
      spdlog::warn("the lease could not be released ({}): a standby takes over once it runs out", error_text(err));
    else
      spdlog::info("lease released: a standby takes over at once");
  }
  spdlog::info("fleetd stopped; database closed");
  // Everything durable is done. CAF 0.17's ~actor_system sometimes waits forever for the thread
  // of the detached manager after remote nodes talked to it (seen in e2e runs: await_detached_threads
  // never returns), so fleetd ends here instead of running that destructor.
  end_process(0);
}
