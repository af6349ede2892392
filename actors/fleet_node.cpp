#include "actors/fleet_node.hpp"

#include "actors/exception_guard.hpp"
#include "fleetd/error.hpp"
#include "fleet/log.hpp"
#include "fleet/time_text.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>

namespace fleet {

namespace {

/// Why the task's data is not what its kind expects, or none. fleetd checks at submit only the
/// types it runs itself: a type only nodes run is checked here, before each attempt.
caf::error check_data(const worker_registry& registry, const task& t) {
  auto invalid = [&] {
    return caf::make_error(errc::invalid_task, fmt::format("task {}: data is not valid JSON", t.id));
  };
  // A kind without a check needs only valid JSON: no document is built for it.
  if (!registry.checks_data(t.type))
    return nlohmann::json::accept(t.data) ? caf::error{} : invalid();
  auto data = nlohmann::json::parse(t.data, nullptr, false);
  if (data.is_discarded())
    return invalid();
  return registry.checker()(t, data);
}

} // namespace

fleet_node_state::~fleet_node_state() {
  for (auto& [id, running] : workers)
    if (!running.shared)
      caf::anon_send_exit(running.worker, caf::exit_reason::user_shutdown);
  for (auto& [type, worker] : shared_workers)
    caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
}

void leave_if_drained(fleet_node_actor::stateful_pointer<fleet_node_state> self);

namespace {

using node_self = fleet_node_actor::stateful_pointer<fleet_node_state>;

/// Sends fleetd the outcomes collected so far, in one message, and keeps the last of them for a
/// rejoin (fleetd may die before it records them).
void send_outcomes(node_self self) {
  auto& st = self->state;
  if (st.outbox.empty())
    return;
  auto outcomes = st.outbox.take();
  st.recently_sent.add(outcomes, self->clock().now());
  self->send(st.opts.manager, outcomes_atom::value, st.opts.announcement.name, std::move(outcomes));
}

/// Collects the outcome for fleetd. It goes at once when the outbox is full, else behind the
/// messages already waiting for this actor (outcomes of other attempts among them): no timer,
/// so an idle node holds an outcome no longer than it takes to read its mailbox. Without fleetd
/// (or while a join is on its way) it waits for the next join.
void report(node_self self, node_outcome o) {
  auto& st = self->state;
  if (!st.joined) {
    st.held.push_back(std::move(o));
    return;
  }
  auto bytes = outcome_bytes(o);
  if (st.outbox.add(std::move(o), bytes)) {
    send_outcomes(self);
    return;
  }
  if (!st.flush_queued) {
    st.flush_queued = true;
    self->send(self, outcome_flush_atom::value);
  }
}

void stop_worker(node_self self, const std::string& worker_id) {
  auto& workers = self->state.workers;
  if (auto i = workers.find(worker_id); i != workers.end()) {
    // A shared worker runs other attempts: this one is dropped, and its late answer ignored.
    if (!i->second.shared)
      self->send_exit(i->second.worker, caf::exit_reason::user_shutdown);
    workers.erase(i);
  }
}

/// Stops every attempt and forgets every outcome not yet taken: fleetd runs them all again.
void stop_all(node_self self) {
  auto& st = self->state;
  for (auto& [id, running] : st.workers)
    if (!running.shared)
      self->send_exit(running.worker, caf::exit_reason::user_shutdown);
  st.workers.clear();
  st.held.clear();
  st.in_join.clear();
  st.recently_sent.clear();
}

/// Runs one attempt on a fresh worker; its outcome (or why there is none) goes to report().
void run_attempt(node_self self, node_attempt& a) {
  auto& st = self->state;
  auto fail = [&](caf::error err) { report(self, node_outcome{a.seq, a.attempt, a.worker_id, {}, std::move(err)}); };
  if (!st.opts.registry->contains(a.spec.type))
    return fail(caf::make_error(errc::unknown_task_type, fmt::format("node {} does not run tasks of type \"{}\"",
                                                                     st.opts.announcement.name, a.spec.type)));
  // Data no attempt can take fails the task for good, as a submit-time check would have.
  if (auto err = check_data(*st.opts.registry, a.spec)) {
    report(self, node_outcome{a.seq, a.attempt, a.worker_id, permanent_failure(error_text(err)), {}});
    return;
  }
  auto deadline_ms = a.timeout_ms > 0 ? wall_clock_ms() + a.timeout_ms : 0;
  auto shared = st.opts.registry->shared(a.spec.type);
  auto known = shared ? st.shared_workers.find(a.spec.type) : st.shared_workers.end();
  worker_actor worker;
  if (known != st.shared_workers.end()) {
    worker = known->second;
  } else {
    auto spawned = st.opts.registry->spawn(self->home_system(), a.spec,
                                           attempt_info{a.worker_id, a.attempt, deadline_ms, st.coordinator, {}});
    if (!spawned)
      return fail(std::move(spawned.error()));
    worker = *spawned;
    if (shared)
      st.shared_workers.emplace(a.spec.type, worker);
  }
  st.workers[a.worker_id] = node_running{worker, a.seq, a.attempt, shared};
  auto type = a.spec.type; // a.spec moves into the request
  // A worker that ends without an outcome is the task's failure, reported as a fleet error. A
  // worker this node stopped (fleetd gave the attempt up) is no longer in `workers`: no report.
  self->request(worker, caf::infinite, execute_atom::value, std::move(a.spec), a.attempt)
    .then(
      [self, seq = a.seq, attempt = a.attempt, worker_id = a.worker_id](task_outcome& outcome) {
        if (self->state.workers.erase(worker_id) == 0)
          return;
        report(self, node_outcome{seq, attempt, worker_id, std::move(outcome), {}});
        leave_if_drained(self);
      },
      [self, seq = a.seq, attempt = a.attempt, worker_id = a.worker_id, worker, type](caf::error& err) {
        // A shared worker answers with an error only when it exited: the next attempt spawns another.
        auto& shared = self->state.shared_workers;
        if (auto i = shared.find(type); i != shared.end() && i->second == worker)
          shared.erase(i);
        if (self->state.workers.erase(worker_id) == 0)
          return;
        report(self, node_outcome{seq, attempt, worker_id, {},
                                  caf::make_error(errc::worker_failed,
                                                  fmt::format("worker on node {} ended without a result ({})",
                                                              self->state.opts.announcement.name,
                                                              error_text(err)))});
        leave_if_drained(self);
      });
}

/// The node lost fleetd (or a join failed for a reason that may pass): its attempts run on for
/// hold_ms while its process connects again; `reason` is logged and handed to on_lost.
void lose_fleetd(node_self self, caf::error reason, bool stop_attempts) {
  auto& st = self->state;
  if (!st.joined && !st.joining)
    return;
  st.joined = false;
  st.joining = false;
  st.flush_queued = false;
  // Outcomes not sent yet, or sent with a join that failed, wait for the next join with those
  // that end meanwhile.
  for (auto& o : st.outbox.take())
    st.held.push_back(std::move(o));
  st.held.insert(st.held.begin(), std::make_move_iterator(st.in_join.begin()), std::make_move_iterator(st.in_join.end()));
  st.in_join.clear();
  auto loss = ++st.losses;
  if (!st.opts.on_lost) {
    // Nobody connects again for it (a node actor of a test or an embedding): it ends here.
    stop_all(self);
    self->quit(std::move(reason));
    return;
  }
  if (stop_attempts || st.opts.hold_ms <= 0) {
    if (!st.workers.empty())
      spdlog::warn("stopping {} running attempts: fleetd runs them again", st.workers.size());
    stop_all(self);
  } else if (!st.workers.empty() || !st.held.empty()) {
    spdlog::warn("{} attempts run on, and {} outcomes are kept, for up to {} ms while this node joins again",
                 st.workers.size(), st.held.size() + st.recently_sent.size(), st.opts.hold_ms);
    self->delayed_send(self, std::chrono::milliseconds(st.opts.hold_ms), hold_due_atom::value, loss);
  }
  if (st.draining) {
    self->quit();
    return;
  }
  st.opts.on_lost(reason);
}

/// Joins fleetd `manager`, announcing what the node still holds from an earlier membership.
void join(node_self self, fleet_api_actor manager) {
  auto& st = self->state;
  if (st.opts.manager && st.opts.manager.address() != manager.address())
    self->demonitor(st.opts.manager.address());
  st.opts.manager = manager;
  self->monitor(manager);
  st.joining = true;
  auto announcement = st.opts.announcement;
  st.announced.clear();
  for (const auto& [worker_id, running] : st.workers) {
    if (announcement.running.size() == max_held_attempts)
      break;
    announcement.running.push_back(node_outcome{running.seq, running.attempt, worker_id, {}, {}});
    st.announced.insert(worker_id);
  }
  // What ends from now on is reported after the welcome; what ended before goes with the join
  // (and with the next one, should this one fail).
  st.in_join.insert(st.in_join.end(), std::make_move_iterator(st.held.begin()), std::make_move_iterator(st.held.end()));
  st.held.clear();
  // Outcomes past what a join carries are announced as running; those fleetd keeps follow the
  // welcome.
  st.deferred.clear();
  size_t bytes = 0;
  auto add_finished = [&](const node_outcome& o) {
    if (announcement.finished.size() < max_held_attempts && bytes + outcome_bytes(o) <= max_join_outcome_bytes) {
      bytes += outcome_bytes(o);
      announcement.finished.push_back(o);
    } else if (announcement.running.size() < max_held_attempts) {
      announcement.running.push_back(node_outcome{o.seq, o.attempt, o.worker_id, {}, {}});
      st.deferred.insert(o.worker_id);
    }
  };
  for (const auto& o : st.recently_sent.list())
    add_finished(o);
  for (const auto& o : st.in_join)
    add_finished(o);
  self->request(manager, std::chrono::seconds(30), node_join_atom::value, std::move(announcement), node_actor{self})
    .then(
      [self, manager](node_welcome& welcome) {
        auto& st = self->state;
        if (!st.joining || st.opts.manager.address() != manager.address())
          return; // an answer for a join that has been given up
        st.joining = false;
        st.joined = true;
        st.welcome = welcome;
        st.last_heartbeat = self->clock().now();
        st.opts.announcement.stopped_orphans.clear();
        // What fleetd did not keep was ended there (lost, timed out, cancelled): it stops here.
        std::set<std::string> kept(welcome.kept.begin(), welcome.kept.end());
        size_t stopped = 0;
        for (const auto& worker_id : st.announced)
          if (kept.count(worker_id) == 0 && st.workers.count(worker_id) > 0) {
            stop_worker(self, worker_id);
            ++stopped;
          }
        st.announced.clear();
        // The outcomes the join reported are fleetd's now; those it had no room for, and those
        // that ended during the join, go the usual way (fleetd ignores any it no longer counts as
        // running here).
        std::vector<node_outcome> late;
        auto take_deferred = [&](auto& list) {
          for (auto& o : list)
            if (st.deferred.count(o.worker_id) != 0 && kept.count(o.worker_id) != 0)
              late.push_back(std::move(o));
        };
        auto sent = st.recently_sent.take();
        take_deferred(sent);
        take_deferred(st.in_join);
        st.deferred.clear();
        st.in_join.clear();
        late.insert(late.end(), std::make_move_iterator(st.held.begin()), std::make_move_iterator(st.held.end()));
        st.held.clear();
        for (auto& o : late)
          report(self, std::move(o));
        if (st.opts.on_joined)
          st.opts.on_joined();
        spdlog::info("joined fleetd as node {} (capacity {}, types {}); heartbeats every {} ms{}",
                     st.opts.announcement.name, st.opts.announcement.capacity,
                     fmt::join(st.opts.announcement.types, ","), welcome.heartbeat_ms,
                     welcome.kept.empty() && stopped == 0
                       ? std::string{}
                       : fmt::format("; fleetd kept {} of the attempts it held, {} stopped", welcome.kept.size(),
                                     stopped));
        self->delayed_send(self, std::chrono::milliseconds(welcome.heartbeat_ms), node_tick_atom::value);
        self->request(st.opts.manager, std::chrono::seconds(30), coordinator_atom::value)
          .then([self](coordinator_actor& c) { self->state.coordinator = std::move(c); },
                [](caf::error& err) { spdlog::warn("fleetd did not name its coordinator: {}", error_text(err)); });
        leave_if_drained(self);
      },
      [self, manager](caf::error& err) {
        auto& st = self->state;
        if (!st.joining || st.opts.manager.address() != manager.address())
          return;
        spdlog::error("fleetd refused the join: {}", error_text(err));
        if (err == errc::invalid_node || err == errc::incompatible_version) {
          self->quit(std::move(err));
          return;
        }
        lose_fleetd(self, std::move(err), false);
      });
}

} // namespace

/// Once a drain has nothing left to wait for: asks fleetd once more, and quits on its answer.
/// Messages to fleetd arrive in order, so the answer means that fleetd has every outcome sent
/// before (the outbox goes first); quitting at once could end the process before they left it.
void leave_if_drained(fleet_node_actor::stateful_pointer<fleet_node_state> self) {
  auto& st = self->state;
  if (!st.draining || !st.workers.empty() || st.leaving || st.joining)
    return;
  st.leaving = true;
  spdlog::info("drained: every attempt of this node finished");
  if (!st.joined) {
    self->quit();
    return;
  }
  send_outcomes(self);
  self->request(st.opts.manager, std::chrono::seconds(10), node_drain_atom::value, st.opts.announcement.name)
    .then([self](int32_t) { self->quit(); }, [self](caf::error&) { self->quit(); });
}

fleet_node_actor::behavior_type fleet_node(fleet_node_actor::stateful_pointer<fleet_node_state> self,
                                           fleet_node_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (!st.opts.manager || msg.source != st.opts.manager.address())
      return; // an earlier fleetd's, already given up
    spdlog::warn("lost fleetd ({})", error_text(msg.reason));
    lose_fleetd(self, caf::make_error(errc::unreachable, "lost fleetd"), false);
  });
  auto from_manager = [self] {
    const auto& sender = self->current_sender();
    const auto& manager = self->state.opts.manager;
    return manager && sender != nullptr && sender->id() == manager.id() && sender->node() == manager.node();
  };
  if (st.opts.manager)
    join(self, st.opts.manager);
  return {
    guarded([self, from_manager](execute_atom, std::vector<node_attempt>& work) {
      if (!from_manager()) {
        spdlog::warn("ignored {} attempts from an actor that is not the fleetd this node joined", work.size());
        return;
      }
      for (auto& a : work)
        run_attempt(self, a);
    }),
    [self](outcome_flush_atom) {
      if (self->current_sender() != self->ctrl())
        return;
      self->state.flush_queued = false;
      if (self->state.joined)
        send_outcomes(self);
    },
    [self, from_manager](stop_atom, const std::string& worker_id) {
      if (!from_manager())
        return;
      stop_worker(self, worker_id);
      leave_if_drained(self);
    },
    [self](rejoin_atom, fleet_api_actor& manager) {
      const auto& sender = self->current_sender();
      auto& st = self->state;
      if (sender == nullptr || sender->node() != self->node() || st.joined || st.joining || st.draining)
        return;
      join(self, std::move(manager));
    },
    [self](hold_due_atom, uint64_t loss) {
      auto& st = self->state;
      if (self->current_sender() != self->ctrl() || loss != st.losses || st.joined)
        return;
      spdlog::warn("no fleetd took this node's attempts within {} ms: stopping {} of them (fleetd runs them again)",
                   st.opts.hold_ms, st.workers.size());
      stop_all(self);
    },
    [self](drain_atom, int64_t timeout_ms) {
      auto& st = self->state;
      const auto& sender = self->current_sender();
      if (sender == nullptr || sender->node() != self->node() || st.draining)
        return;
      st.draining = true;
      if (!st.joined) {
        spdlog::info("draining without fleetd: stopping {} attempts", st.workers.size());
        self->quit();
        return;
      }
      spdlog::info("draining: no new attempts; {} running may finish within {} ms", st.workers.size(),
                   timeout_ms);
      self->delayed_send(self, std::chrono::milliseconds(timeout_ms), drain_deadline_atom::value);
      // Until fleetd answers, attempts it sent before it learnt of the drain still arrive, and run.
      self->request(st.opts.manager, std::chrono::seconds(10), node_drain_atom::value, st.opts.announcement.name)
        .then([self](int32_t) { leave_if_drained(self); },
              [self](caf::error& err) {
                spdlog::warn("fleetd did not take the drain ({}): leaving now", error_text(err));
                self->quit();
              });
    },
    [self](drain_deadline_atom) {
      if (self->current_sender() != self->ctrl())
        return;
      spdlog::warn("drain timeout: stopping {} attempts, which fleetd runs again", self->state.workers.size());
      if (self->state.joined)
        send_outcomes(self);
      self->quit();
    },
    [self, from_manager](heartbeat_atom) -> caf::result<int32_t> {
      if (!from_manager())
        return caf::make_error(errc::not_permitted, "only fleetd checks on this node");
      self->state.last_heartbeat = self->clock().now();
      return static_cast<int32_t>(self->state.workers.size());
    },
    [self, from_manager](dropped_atom, const std::string& reason) {
      if (!from_manager())
        return;
      // fleetd has recorded its attempts as lost: they run elsewhere, and stop here.
      if (self->state.joining) {
        // About the membership before the join on its way, which goes on.
        spdlog::warn("fleetd dropped this node's last membership ({}): stopping {} attempts", reason,
                     self->state.workers.size());
        stop_all(self);
        return;
      }
      spdlog::warn("fleetd dropped this node ({}): joining again", reason);
      lose_fleetd(self, caf::make_error(errc::unreachable, "dropped by fleetd"), true);
    },
    [self](node_tick_atom) {
      auto& st = self->state;
      if (self->current_sender() != self->ctrl() || !st.joined)
        return;
      auto silent = self->clock().now() - st.last_heartbeat;
      if (silent > std::chrono::milliseconds(st.welcome.timeout_ms)) {
        spdlog::warn("no heartbeat from fleetd for {} ms",
                     std::chrono::duration_cast<std::chrono::milliseconds>(silent).count());
        lose_fleetd(self, caf::make_error(errc::unreachable, "no heartbeat from fleetd"), false);
        return;
      }
      self->delayed_send(self, std::chrono::milliseconds(st.welcome.heartbeat_ms), node_tick_atom::value);
    },
  };
}

} // namespace fleet
