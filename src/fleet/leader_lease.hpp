#pragma once

#include "fleet/pg.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace fleet {

/// Who holds the lease, as the database sees it now.
struct lease_state {
  std::string holder; ///< "" when nobody does
  int64_t epoch = 0;  ///< the current term (0: never held)
  int64_t ms_left = 0; ///< until it expires on the database's clock; <= 0: expired, free to take
};

/// The lease that makes one of several fleetd processes on one PostgreSQL database the active
/// manager (schema/postgres/0001_lease.sql). The active one renews it well within `ttl`; a standby
/// tries to take it, and gets it once the holder released it or let it expire. Each takeover
/// starts a new term (epoch).
///
/// Two safeguards, because a process can be paused (SIGSTOP, a VM migration, a long GC-like
/// stall) or cut off from the database at any moment and not know it:
/// - `held` answers from this process's monotonic clock alone: the lease counts as held until
///   `ttl` less a margin after the last successful renewal was *sent*. The database measures its
///   expiry from when it ran the renewal, which is later, so the holder stops acting before a
///   standby can take over, even when it cannot reach the database to learn it lost the lease.
/// - `fence` is for every write transaction of the active manager: it checks that the epoch is
///   still this term's and holds a key-share lock on the lease row until the transaction ends, so a
///   takeover waits for the write to commit, and a write after a takeover fails with
///   errc::not_leader and changes nothing.
/// - A holder paused inside a write transaction would hold that lock, and the takeover would wait
///   for it as long as the pause lasts. `guard_session` on the holder's write connection has the
///   server end such a session (idle in transaction) after half the ttl, which rolls its write
///   back; `try_acquire` waits for the row at most a tenth of the ttl and then answers false, to
///   try again at its next turn.
///
/// One object per term holder; not thread-safe, except that `fence` and `epoch` may be called
/// from one thread while another renews (lease_keeper). Each call takes the connection to use, so that the
/// renewals can run on a connection of their own while the writer's is busy.
class leader_lease {
public:
  using clock = std::chrono::steady_clock;

  /// `holder` names this fleetd in the lease and its terms (unique per process: for example
  /// host:pid:start time); `ttl` is fleet.failover-timeout.
  leader_lease(std::string holder, std::chrono::milliseconds ttl);

  /// Takes the lease if nobody holds it or it expired: true, and `epoch()` is the new term. False
  /// when another fleetd holds it (`current` says who and for how long).
  caf::expected<bool> try_acquire(pg::connection& db, clock::time_point now = clock::now());

  /// Extends the lease to `ttl` from now on the database's clock. errc::not_leader when another
  /// fleetd took it over (this term is over for good: stop, and start again as a standby).
  caf::error renew(pg::connection& db, clock::time_point now = clock::now());

  /// Gives the lease up at once (a clean shutdown), so that a standby need not wait for it to
  /// expire. Does nothing if the term is over already.
  caf::error release(pg::connection& db);

  /// Call first in each write transaction of the active manager, inside it: errc::not_leader
  /// unless this term is still the current one.
  caf::error fence(pg::connection& db) const;

  /// Sets up a connection the holder writes through (see above). Call once after connecting.
  static caf::error guard_session(pg::connection& db, std::chrono::milliseconds ttl);

  /// Whether this process may act as the active manager at `now`: a term was taken or renewed,
  /// not lost, and `now` is before the local deadline (see above).
  bool held(clock::time_point now = clock::now()) const;

  /// This holder's term, 0 before the first acquisition.
  int64_t epoch() const { return epoch_; }

  const std::string& holder() const { return holder_; }
  std::chrono::milliseconds ttl() const { return ttl_; }

  /// The lease as the database sees it.
  static caf::expected<lease_state> current(pg::connection& db);

private:
  void extended_from(clock::time_point sent);

  std::string holder_;
  std::chrono::milliseconds ttl_;
  int64_t epoch_ = 0;
  /// Set by the renewing thread, read by the writer's fence (lease_keeper).
  std::atomic<bool> lost_{false};
  clock::time_point held_until_{};
};

} // namespace fleet
