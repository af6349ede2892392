#pragma once

// How a fleetd on PostgreSQL becomes the active manager and stays it (issue 24): it waits as a
// standby until it takes the lease, then keeps renewing it on a connection and thread of its own,
// and steps down the moment it cannot be sure it still holds it.

#include "fleet/leader_lease.hpp"
#include "fleet/pg.hpp"

#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace fleet {

/// How often the lease is renewed, and a standby tries to take it: a tenth of the ttl, at most a
/// second.
std::chrono::milliseconds lease_interval(std::chrono::milliseconds ttl);

/// A name for this process in the lease and its terms: host:pid:start time (ms).
std::string lease_holder_name();

/// Opens a standby's connection to `conninfo` and runs `prepare` on it (the migrations), riding out
/// a server that cannot be reached yet, as at boot when fleetd starts before PostgreSQL: logged
/// when the reason changes, tried again every `interval`. None, with the signal in `sig`, when one
/// of `signals` (blocked in every thread) arrives first. Other errors (a connection string that is
/// not valid, a newer schema) end the wait.
caf::expected<std::optional<pg::connection>>
connect_standby(const std::string& conninfo, std::chrono::milliseconds interval,
                const std::function<caf::error(pg::connection&)>& prepare, const sigset_t& signals, int& sig);

/// Waits as a standby until `lease` is this process's: tries every lease_interval, logs who holds
/// it whenever that changes, and rides out a database that cannot be reached (logged, tried again).
/// False, with the signal in `sig`, when one of `signals` (blocked in every thread) arrives first.
/// Errors other than an unreachable database (a newer schema, a refused login) end the wait.
caf::expected<bool> wait_for_lease(pg::connection& db, leader_lease& lease, const sigset_t& signals, int& sig);

/// Keeps the lease of the active manager: renews it every lease_interval on its own connection
/// and thread. When the term is over (another fleetd took it) or the lease could not be renewed
/// before its local deadline (leader_lease::held: the ttl less a tenth after the last renewal was
/// sent), it calls `lost` once, from its thread, with the reason; fleetd then exits at once, so
/// that nothing of it dispatches or writes after a standby may have taken over (its writes are
/// fenced as well). A second thread watches the deadline, since a renewal can hang on a server
/// that stopped answering.
class lease_keeper {
public:
  using lost_handler = std::function<void(const std::string& reason)>;

  /// Starts keeping `lease` (held now) through `db`; the lease outlives the keeper.
  lease_keeper(pg::connection db, leader_lease& lease, lost_handler lost);
  ~lease_keeper();
  lease_keeper(const lease_keeper&) = delete;
  lease_keeper& operator=(const lease_keeper&) = delete;

  /// A clean shutdown: stops renewing and gives the lease up, so that a standby takes over at
  /// once instead of after the ttl.
  caf::error release();

private:
  void renew_loop();
  void watch_loop();
  void stop();
  void report(const std::string& reason);

  pg::connection db_;
  leader_lease& lease_;
  lost_handler lost_;
  std::atomic<int64_t> deadline_ns_; ///< steady clock: the lease counts as held until then
  std::atomic<bool> reported_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread renewer_;
  std::thread watcher_;
};

} // namespace fleet
