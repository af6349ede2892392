#include "fleet/leader_lease.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace fleet {

namespace {

/// The margin `held` keeps below the ttl: for the difference between this process's clock rate
/// and the database's, and for a renewal's way to the server.
constexpr std::chrono::milliseconds margin(std::chrono::milliseconds ttl) {
  return ttl / 10;
}

caf::error lost(const std::string& holder, int64_t epoch) {
  return caf::make_error(errc::not_leader,
                         fmt::format("fleetd {} lost its lease (term {}): another fleetd is the active manager",
                                     holder, epoch));
}

} // namespace

leader_lease::leader_lease(std::string holder, std::chrono::milliseconds ttl)
  : holder_(std::move(holder)), ttl_(ttl) {
}

void leader_lease::extended_from(clock::time_point sent) {
  held_until_ = sent + ttl_ - margin(ttl_);
}

caf::error leader_lease::guard_session(pg::connection& db, std::chrono::milliseconds ttl) {
  auto limit = std::max<int64_t>(ttl.count() / 2, 1);
  auto set = db.query("SELECT set_config('idle_in_transaction_session_timeout', $1, false)", std::to_string(limit));
  return set ? caf::none : set.error();
}

caf::expected<bool> leader_lease::try_acquire(pg::connection& db, clock::time_point now) {
  // Only a lease that is free or ran out is worth locking: a standby that asked for the row while
  // the holder writes would queue the holder's next writes behind it, every time it looks.
  auto free = db.query_int("SELECT count(*) FROM leader_lease"
                           " WHERE id = 1 AND (holder IS NULL OR expires_at <= clock_timestamp())");
  if (!free)
    return free.error();
  if (*free == 0)
    return false;
  // The row lock (FOR UPDATE) waits for the writes in flight of the old holder, whose fences hold
  // the row FOR KEY SHARE, and makes two standbys that try at once take turns: the second finds
  // the lease taken. The term's row is written in the same statement. Wait for the old holder a
  // little, not for as long as it may be paused.
  pg::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  auto wait_ms = std::max<int64_t>(ttl_.count() / 10, 10);
  if (auto set = db.query("SELECT set_config('lock_timeout', $1, true)", std::to_string(wait_ms)); !set)
    return set.error();
  auto locked = db.query("SELECT 1 FROM leader_lease WHERE id = 1 FOR UPDATE");
  if (!locked) {
    if (db.last_sqlstate() == "55P03") // lock_not_available: the holder is writing
      return false;
    return locked.error();
  }
  auto taken = db.query("WITH taken AS ("
                        "  UPDATE leader_lease SET holder = $1, epoch = epoch + 1, acquired_at = clock_timestamp(),"
                        "    renewed_at = clock_timestamp(), expires_at = clock_timestamp() + $2 * interval '1 millisecond'"
                        "  WHERE id = 1 AND (holder IS NULL OR expires_at <= clock_timestamp())"
                        "  RETURNING epoch, holder, acquired_at)"
                        " INSERT INTO leader_terms (epoch, holder, acquired_at)"
                        " SELECT epoch, holder, acquired_at FROM taken RETURNING epoch",
                        holder_, int64_t{ttl_.count()});
  if (!taken) {
    if (db.last_sqlstate() == "55P03") // lock_not_available: the holder is writing
      return false;
    return taken.error();
  }
  if (taken->rows() == 0)
    return false;
  auto epoch = taken->int64(0, 0);
  if (!epoch)
    return epoch.error();
  if (auto err = tx.commit())
    return err;
  epoch_ = *epoch;
  lost_ = false;
  extended_from(now);
  return true;
}

caf::error leader_lease::renew(pg::connection& db, clock::time_point now) {
  if (lost_ || epoch_ == 0)
    return lost(holder_, epoch_);
  // Also after the lease ran out: as long as nobody took it, the term is still this one.
  auto renewed = db.query("UPDATE leader_lease SET renewed_at = clock_timestamp(),"
                          " expires_at = clock_timestamp() + $3 * interval '1 millisecond'"
                          " WHERE id = 1 AND holder = $1 AND epoch = $2",
                          holder_, epoch_, int64_t{ttl_.count()});
  if (!renewed)
    return renewed.error();
  if (renewed->affected() == 0) {
    lost_ = true;
    return lost(holder_, epoch_);
  }
  extended_from(now);
  return caf::none;
}

caf::error leader_lease::release(pg::connection& db) {
  if (lost_ || epoch_ == 0)
    return caf::none;
  lost_ = true; // whatever the database answers, this process acts no more
  pg::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  auto released = db.query("UPDATE leader_lease SET holder = NULL, expires_at = clock_timestamp()"
                           " WHERE id = 1 AND holder = $1 AND epoch = $2",
                           holder_, epoch_);
  if (!released)
    return released.error();
  if (released->affected() == 0)
    return caf::none; // another term began already
  if (auto ended = db.query("UPDATE leader_terms SET released_at = clock_timestamp() WHERE epoch = $1", epoch_);
      !ended)
    return ended.error();
  return tx.commit();
}

caf::error leader_lease::fence(pg::connection& db) const {
  if (lost_ || epoch_ == 0)
    return lost(holder_, epoch_);
  // KEY SHARE: a takeover (FOR UPDATE) waits for this write, a renewal (an UPDATE of no key)
  // does not. A plain share lock would hold every renewal up behind every write, and a big
  // submit could keep the lease from being renewed until it ran out.
  auto current = db.prepared_int("SELECT epoch FROM leader_lease WHERE id = 1 FOR KEY SHARE");
  if (!current)
    return current.error();
  if (*current != epoch_)
    return lost(holder_, epoch_);
  return caf::none;
}

bool leader_lease::held(clock::time_point now) const {
  return !lost_ && epoch_ > 0 && now < held_until_;
}

caf::expected<lease_state> leader_lease::current(pg::connection& db) {
  auto row = db.query("SELECT coalesce(holder, ''), epoch,"
                      " floor(extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint"
                      " FROM leader_lease WHERE id = 1");
  if (!row)
    return row.error();
  if (row->rows() != 1)
    return caf::make_error(errc::database_error, "the leader_lease row is missing");
  lease_state out;
  out.holder = std::string{row->text(0, 0)};
  auto epoch = row->int64(0, 1);
  auto left = row->int64(0, 2);
  if (!epoch)
    return epoch.error();
  if (!left)
    return left.error();
  out.epoch = *epoch;
  out.ms_left = *left;
  return out;
}

} // namespace fleet
