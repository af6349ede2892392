#include "fleet/leadership.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <unistd.h>

namespace fleet {

std::chrono::milliseconds lease_interval(std::chrono::milliseconds ttl) {
  return std::clamp(ttl / 10, std::chrono::milliseconds{10}, std::chrono::milliseconds{1000});
}

std::string lease_holder_name() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0)
    std::snprintf(host, sizeof(host), "unknown-host");
  auto started = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  return fmt::format("{}:{}:{}", host, ::getpid(), started);
}

namespace {

/// Waits `interval` for one of `signals`: true, with it in `sig`, if one arrived.
bool signalled_within(std::chrono::milliseconds interval, const sigset_t& signals, int& sig) {
  timespec wait{static_cast<time_t>(interval.count() / 1000), static_cast<long>(interval.count() % 1000) * 1'000'000};
  siginfo_t info;
  if (auto got = sigtimedwait(&signals, &info, &wait); got > 0) {
    sig = got;
    return true;
  }
  return false;
}

} // namespace

caf::expected<std::optional<pg::connection>>
connect_standby(const std::string& conninfo, std::chrono::milliseconds interval,
                const std::function<caf::error(pg::connection&)>& prepare, const sigset_t& signals, int& sig) {
  // A new reason is logged at once, the same one again every minute: a typo in the database name
  // waits as an unreachable server does, and must not go unnoticed.
  constexpr auto reminder = std::chrono::minutes(1);
  std::string last_reason;
  auto since = std::chrono::steady_clock::now();
  auto logged_at = since;
  for (;;) {
    auto db = pg::connection::open(conninfo);
    caf::error err = db ? prepare(*db) : db.error();
    if (!err)
      return std::optional<pg::connection>{std::move(*db)};
    if (err != errc::storage_unavailable)
      return err;
    auto now = std::chrono::steady_clock::now();
    if (auto reason = error_text(err); reason != last_reason) {
      spdlog::warn("standby: PostgreSQL cannot be reached ({}); trying again every {} ms", reason, interval.count());
      last_reason = reason;
      logged_at = now;
    } else if (now - logged_at >= reminder) {
      spdlog::warn("standby: PostgreSQL still cannot be reached after {} s ({})",
                   std::chrono::duration_cast<std::chrono::seconds>(now - since).count(), reason);
      logged_at = now;
    }
    if (signalled_within(interval, signals, sig))
      return std::optional<pg::connection>{};
  }
}

caf::expected<bool> wait_for_lease(pg::connection& db, leader_lease& lease, const sigset_t& signals, int& sig) {
  auto interval = lease_interval(lease.ttl());
  db.reconnect_when_lost();
  std::string last_holder = "-";
  bool unreachable = false;
  for (;;) {
    auto taken = lease.try_acquire(db);
    if (taken && *taken)
      return true;
    if (!taken) {
      if (taken.error() != errc::storage_unavailable)
        return taken.error();
      if (!unreachable)
        spdlog::warn("standby: the database cannot be reached ({}); trying again every {} ms",
                     error_text(taken.error()), interval.count());
      unreachable = true; // the next try opens a new session
    } else {
      unreachable = false;
      if (auto now = leader_lease::current(db); now && now->holder != last_holder) {
        last_holder = now->holder;
        spdlog::info("standby: {} is the active manager (term {}); taking over if its lease runs out "
                     "({} ms left)",
                     now->holder.empty() ? std::string{"nobody"} : now->holder, now->epoch,
                     std::max<int64_t>(now->ms_left, 0));
      }
    }
    if (signalled_within(interval, signals, sig))
      return false;
  }
}

lease_keeper::lease_keeper(pg::connection db, leader_lease& lease, lost_handler lost)
  : db_(std::move(db)), lease_(lease), lost_(std::move(lost)) {
  db_.reconnect_when_lost();
  // Held now: taken a moment ago, at most one interval before this.
  auto now = leader_lease::clock::now();
  deadline_ns_ = (now + lease.ttl() - lease.ttl() / 10 - lease_interval(lease.ttl())).time_since_epoch().count();
  renewer_ = std::thread{[this] { renew_loop(); }};
  watcher_ = std::thread{[this] { watch_loop(); }};
}

lease_keeper::~lease_keeper() {
  stop();
}

void lease_keeper::stop() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  if (renewer_.joinable())
    renewer_.join();
  if (watcher_.joinable())
    watcher_.join();
}

caf::error lease_keeper::release() {
  stop();
  return lease_.release(db_);
}

void lease_keeper::report(const std::string& reason) {
  if (!reported_.exchange(true))
    lost_(reason);
}

void lease_keeper::renew_loop() {
  auto interval = lease_interval(lease_.ttl());
  std::unique_lock<std::mutex> lock{mutex_};
  while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    auto sent = leader_lease::clock::now();
    auto err = lease_.renew(db_, sent);
    if (!err) {
      deadline_ns_ = (sent + lease_.ttl() - lease_.ttl() / 10).time_since_epoch().count();
    } else if (err == errc::not_leader) {
      report(error_text(err));
      return;
    } else {
      spdlog::warn("the lease could not be renewed ({}); trying again until it runs out", error_text(err));
    }
    lock.lock();
  }
}

void lease_keeper::watch_loop() {
  std::unique_lock<std::mutex> lock{mutex_};
  for (;;) {
    auto deadline = leader_lease::clock::time_point{leader_lease::clock::duration{deadline_ns_.load()}};
    if (wake_.wait_until(lock, deadline, [this] { return stopping_; }))
      return;
    // Renewed meanwhile: wait for the new deadline.
    if (leader_lease::clock::now() < leader_lease::clock::time_point{leader_lease::clock::duration{deadline_ns_.load()}})
      continue;
    lock.unlock();
    report(fmt::format("the lease of term {} could not be renewed within {} ms: a standby may take over now",
                       lease_.epoch(), lease_.ttl().count() - lease_.ttl().count() / 10));
    return;
  }
}

} // namespace fleet
