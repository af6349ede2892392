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
  auto data = nlohmann::json::parse(t.data, nullptr, false);
  if (data.is_discarded())
    return caf::make_error(errc::invalid_task, fmt::format("task {}: data is not valid JSON", t.id));
  return registry.checker()(t, data);
}

} // namespace

fleet_node_state::~fleet_node_state() {
  for (auto& [id, worker] : workers)
    caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
}

void leave_if_drained(fleet_node_actor::stateful_pointer<fleet_node_state> self);

namespace {

using node_self = fleet_node_actor::stateful_pointer<fleet_node_state>;

/// Sends fleetd the outcomes collected so far, in one message.
void send_outcomes(node_self self) {
  auto& st = self->state;
  if (st.outbox.empty())
    return;
  self->send(st.opts.manager, outcomes_atom::value, st.opts.announcement.name, st.outbox.take());
}

/// Collects the outcome for fleetd. It goes at once when the outbox is full, else behind the
/// messages already waiting for this actor (outcomes of other attempts among them): no timer,
/// so an idle node holds an outcome no longer than it takes to read its mailbox.
void report(node_self self, node_outcome o) {
  auto& st = self->state;
  auto bytes = o.outcome.result.size() + o.outcome.error.size();
  if (st.outbox.add(std::move(o), bytes)) {
    send_outcomes(self);
    return;
  }
  if (!st.flush_queued) {
    st.flush_queued = true;
    self->send(self, outcome_flush_atom::value);
  }
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
  auto spawned = st.opts.registry->spawn(self->home_system(), a.spec,
                                         attempt_info{a.worker_id, a.attempt, deadline_ms, st.coordinator, {}});
  if (!spawned)
    return fail(std::move(spawned.error()));
  auto worker = *spawned;
  st.workers[a.worker_id] = worker;
  // A worker that ends without an outcome is the task's failure, reported as a fleet error.
  self->request(worker, caf::infinite, execute_atom::value, std::move(a.spec), a.attempt)
    .then(
      [self, seq = a.seq, attempt = a.attempt, worker_id = a.worker_id](task_outcome& outcome) {
        self->state.workers.erase(worker_id);
        report(self, node_outcome{seq, attempt, worker_id, std::move(outcome), {}});
        leave_if_drained(self);
      },
      [self, seq = a.seq, attempt = a.attempt, worker_id = a.worker_id](caf::error& err) {
        self->state.workers.erase(worker_id);
        report(self, node_outcome{seq, attempt, worker_id, {},
                                  caf::make_error(errc::worker_failed,
                                                  fmt::format("worker on node {} ended without a result ({})",
                                                              self->state.opts.announcement.name,
                                                              error_text(err)))});
        leave_if_drained(self);
      });
}

} // namespace

/// Once a drain has nothing left to wait for: asks fleetd once more, and quits on its answer.
/// Messages to fleetd arrive in order, so the answer means that fleetd has every outcome sent
/// before (the outbox goes first); quitting at once could end the process before they left it.
void leave_if_drained(fleet_node_actor::stateful_pointer<fleet_node_state> self) {
  auto& st = self->state;
  if (!st.draining || !st.workers.empty() || st.leaving)
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
  auto manager = st.opts.manager;
  self->monitor(manager);
  self->set_down_handler([self](caf::down_msg& msg) {
    spdlog::warn("lost fleetd ({}): stopping {} running attempts", error_text(msg.reason),
                 self->state.workers.size());
    self->quit(caf::make_error(errc::unreachable, "lost fleetd"));
  });
  auto from_manager = [self, manager] {
    const auto& sender = self->current_sender();
    return sender != nullptr && sender->id() == manager.id() && sender->node() == manager.node();
  };
  self->request(manager, std::chrono::seconds(30), node_join_atom::value, st.opts.announcement,
                node_actor{self})
    .then(
      [self](node_welcome& welcome) {
        auto& st = self->state;
        st.welcome = welcome;
        st.joined = true;
        st.last_heartbeat = self->clock().now();
        if (st.opts.on_joined)
          st.opts.on_joined();
        spdlog::info("joined fleetd as node {} (capacity {}, types {}); heartbeats every {} ms",
                     st.opts.announcement.name, st.opts.announcement.capacity,
                     fmt::join(st.opts.announcement.types, ","), welcome.heartbeat_ms);
        self->delayed_send(self, std::chrono::milliseconds(welcome.heartbeat_ms), node_tick_atom::value);
        self->request(st.opts.manager, std::chrono::seconds(30), coordinator_atom::value)
          .then([self](coordinator_actor& c) { self->state.coordinator = std::move(c); },
                [](caf::error& err) { spdlog::warn("fleetd did not name its coordinator: {}", error_text(err)); });
      },
      [self](caf::error& err) {
        spdlog::error("fleetd refused the join: {}", error_text(err));
        self->quit(std::move(err));
      });
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
      send_outcomes(self);
    },
    [self, from_manager](stop_atom, const std::string& worker_id) {
      if (!from_manager())
        return;
      auto& workers = self->state.workers;
      if (auto i = workers.find(worker_id); i != workers.end()) {
        self->send_exit(i->second, caf::exit_reason::user_shutdown);
        workers.erase(i);
      }
      leave_if_drained(self);
    },
    [self](drain_atom, int64_t timeout_ms) {
      auto& st = self->state;
      const auto& sender = self->current_sender();
      if (sender == nullptr || sender->node() != self->node() || st.draining)
        return;
      st.draining = true;
      spdlog::info("draining: no new attempts; {} running may finish within {} ms", st.workers.size(),
                   timeout_ms);
      self->delayed_send(self, std::chrono::milliseconds(timeout_ms), drain_deadline_atom::value);
      if (!st.joined) {
        self->quit();
        return;
      }
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
      spdlog::warn("fleetd dropped this node ({}): stopping {} attempts and joining again", reason,
                   self->state.workers.size());
      self->quit(caf::make_error(errc::unreachable, "dropped by fleetd"));
    },
    [self](node_tick_atom) {
      auto& st = self->state;
      if (self->current_sender() != self->ctrl() || !st.joined)
        return;
      auto silent = self->clock().now() - st.last_heartbeat;
      if (silent > std::chrono::milliseconds(st.welcome.timeout_ms)) {
        // fleetd has dropped this node by now: its attempts run elsewhere.
        spdlog::warn("no heartbeat from fleetd for {} ms: stopping {} attempts and joining again",
                     std::chrono::duration_cast<std::chrono::milliseconds>(silent).count(),
                     st.workers.size());
        self->quit(caf::make_error(errc::unreachable, "no heartbeat from fleetd"));
        return;
      }
      self->delayed_send(self, std::chrono::milliseconds(st.welcome.heartbeat_ms), node_tick_atom::value);
    },
  };
}

} // namespace fleet
