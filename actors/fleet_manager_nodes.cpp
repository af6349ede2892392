#include "actors/fleet_manager.hpp"
#include "actors/fleet_manager_internal.hpp"
#include "actors/exception_guard.hpp"
#include "actors/origin.hpp"
#include "fleet/ids.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/log.hpp"
#include "fleet/retry_policy.hpp"
#include "fleet/text.hpp"
#include "fleet/upload_part.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

namespace fleet {

using namespace manager_detail;

// -- fleet-nodes ----------------------------------------------------------------

task_type_check fleet_manager_state::type_check() const {
  return [this, local = opts_.registry->checker()](const task& t, const nlohmann::json& data) -> caf::error {
    if (opts_.registry->contains(t.type) || !nodes_.table().runs(t.type))
      return local(t, data);
    return caf::none; // a type only fleet-nodes run: the node checks the data
  };
}

caf::result<node_welcome> fleet_manager_state::join_node(const node_announcement& a,
                                                         const node_actor& handle) {
  if (!handle)
    return caf::make_error(errc::invalid_node, "a node joins with the handle of its node actor");
  // Attempts go to the handle and outcomes are taken from it: a peer may name only an actor of
  // its own process, not one of another node's (nor join anonymously, which would skip the check).
  const auto& sender = self_->current_sender();
  if (sender == nullptr)
    return caf::make_error(errc::invalid_node, "a node joins with a request from an actor of its own process");
  if (handle.node() != sender->node())
    return caf::make_error(errc::invalid_node, "a node joins with the handle of an actor of its own process, not "
                                               "of another CAF node");
  if (auto err = node_table::validate(a))
    return err;
  auto checked = opts_.node_names_from_certificates && !sent_from_local_node(self_);
  auto node = sender->node();
  // The promise takes the request's sender: from here on current_sender() is empty.
  auto rp = self_->make_response_promise<node_welcome>();
  if (!checked) {
    admit_node(a, handle, rp);
    return rp;
  }
  common_name_of(node, [this, a, handle, rp](const std::string& common_name) mutable {
    if (common_name != a.name) {
      spdlog::warn("refused a fleet-node joining as {}: its certificate's common name is {} (fleet.node-names = "
                   "certificate)",
                   a.name, common_name.empty() ? "missing" : "\"" + common_name + "\"");
      rp.deliver(caf::make_error(
        errc::invalid_node,
        fmt::format("a node joins under the common name of its TLS certificate (fleet.node-names = certificate): "
                    "{} is not {}",
                    a.name, common_name.empty() ? "known for this connection" : "\"" + common_name + "\"")));
      return;
    }
    admit_node(a, handle, rp);
  });
  return rp;
}

void fleet_manager_state::admit_node(const node_announcement& a, const node_actor& handle,
                                     caf::typed_response_promise<node_welcome> rp) {
  if (drain_.draining()) {
    rp.deliver(caf::make_error(errc::shutting_down, "fleetd is shutting down and takes no nodes"));
    return;
  }
  auto kind = nodes_.check(a, handle, opts_.node_timeout_ms);
  if (!kind) {
    rp.deliver(std::move(kind.error()));
    return;
  }
  if (*kind == decltype(nodes_)::join::again) {
    // The same process joins again: what it still runs is reconciled below, not dropped. Only a
    // different actor of it (an older membership's) is told that it was dropped.
    auto old = nodes_.remove(a.name);
    self_->demonitor(old->address());
    if (old->address() != handle.address())
      self_->send(*old, dropped_atom::value, std::string{"it joined again"});
  }
  auto now = now_ms();
  nodes_.add(a, handle, now);
  opts_.metrics->nodes.set(static_cast<int64_t>(nodes_.count()));
  self_->monitor(handle);
  auto kept = reconcile(a, now);
  spdlog::info("node {} joined: capacity {}, types {}{}", a.name, a.capacity, fmt::join(a.types, ","),
               a.running.empty() && a.finished.empty()
                 ? std::string{}
                 : fmt::format("; of the attempts it held, {} run on and {} reported finished", kept.size(),
                               a.finished.size()));
  schedule_node_tick();
  node_welcome welcome{opts_.node_heartbeat_ms, opts_.node_timeout_ms, std::move(kept)};
  if (!a.stopped_orphans.empty())
    spdlog::warn("node {} stopped {} programs its last run had left running", a.name, a.stopped_orphans.size());
  write([now, detail = node_joined_detail(a), node = a.name, stopped = a.stopped_orphans](fleet_store& store) {
          if (auto err = store.log_event(now, event_kind::node_joined, {}, {}, detail))
            return err;
          // The attempt behind a label is in attempts.worker_id (docs/AUDIT.md): the node lost it
          // when it died, and fleetd ended it then.
          for (const auto& o : stopped)
            if (auto err = store.log_event(now, event_kind::orphan_stopped, {}, {},
                                           orphan_stopped_detail(node, o)))
              return err;
          return caf::error{};
        },
        [this, rp, welcome](caf::error err) mutable {
          if (err)
            rp.deliver(std::move(err));
          else
            rp.deliver(welcome);
          dispatch();
        });
}

caf::result<int32_t> fleet_manager_state::drain_node(const std::string& name) {
  auto handle = nodes_.handle(name);
  const auto& sender = self_->current_sender();
  if (handle == nullptr || sender == nullptr || sender->address() != handle->address())
    return caf::make_error(errc::not_permitted, fmt::format("only node {} itself may drain it", name));
  if (nodes_.table().set_draining(name))
    spdlog::info("node {} drains: no more attempts go there", name);
  int32_t running = 0;
  for (const auto& n : nodes_.table().list(now_ms()))
    if (n.name == name)
      running = n.running;
  return running;
}

std::vector<node_info> fleet_manager_state::nodes() const {
  return nodes_.table().list(now_ms());
}

void fleet_manager_state::drop_node(std::string name, const std::string& reason) {
  auto handle = nodes_.remove(name);
  if (!handle)
    return;
  self_->demonitor(handle->address());
  // A node that merely paused (stopped, slow network) learns it at once when it resumes.
  self_->send(*handle, dropped_atom::value, reason);
  opts_.metrics->nodes.set(static_cast<int64_t>(nodes_.count()));
  auto now = now_ms();
  auto lost = attempts_.take_if([&](const running_attempt& r) { return r.node == name; });
  lose_attempts(lost, now, fmt::format("node {} was dropped: {}", name, reason));
  auto interrupted = static_cast<int32_t>(lost.size());
  spdlog::warn("node {} dropped ({}): {} running attempts run again", name, reason, interrupted);
  auto detail = node_dropped_detail(name, reason, interrupted);
  write([now, detail](fleet_store& store) { return store.log_event(now, event_kind::node_dropped, {}, {}, detail); },
        [this](caf::error err) {
          if (err)
            spdlog::error("cannot record the dropped node: {}", error_text(err));
          // The interrupted attempts' tasks are pending again.
          invalidate_ready();
          dispatch();
        });
}

void fleet_manager_state::lose_attempts(const std::vector<running_attempt>& lost, int64_t now,
                                        const std::string& reason) {
  for (const auto& r : lost) {
    queue_end(r, lost_attempt(r, now, reason));
    attempts_.remember_finished(r, false, now);
    attempt_left(r);
  }
  if (lost.empty())
    return;
  // Their tasks are pending again once this commits: read the windows then.
  after_commit([this] {
    invalidate_ready();
    dispatch();
  });
  schedule_flush();
}

void fleet_manager_state::hold_for_rejoin(const std::vector<held_attempt>& held) {
  auto now = now_ms();
  for (const auto& h : held) {
    const auto& t = h.task;
    running_attempt r;
    r.seq = t.seq;
    r.batch_id = t.batch_id;
    r.task_id = t.spec.id;
    r.attempt = h.attempt;
    // The task's counters include this attempt's start; begin_attempt counts from before it.
    r.counted_before = t.attempts - 1 - t.interruptions - t.replay_base;
    r.orphaned_before = t.orphaned;
    r.worker_id = h.worker_id;
    r.node = h.node;
    r.policy = t.spec.policy;
    r.queue = t.spec.queue;
    r.group = t.spec.group;
    auto timeout = effective_config(cfg_, r.policy).worker_timeout_ms;
    // Its start is on the last run's clock, which may have been set differently (a step between
    // the runs): within one timeout of now it stands, else the attempt counts as started now, so
    // that neither its duration nor its deadline takes the difference in.
    r.spawned_at = std::clamp(h.started_at, now - timeout, now);
    r.deadline = r.spawned_at + timeout;
    shortest_timeout_ms_ = std::min(shortest_timeout_ms_, timeout);
    r.start_committed = true;
    queues_.on_held(queues_.ensure(r.queue), r.group);
    rejoining_.insert(r.node);
    attempts_.add(std::move(r));
  }
  if (held.empty())
    return;
  spdlog::warn("{} attempts were running on {} fleet-nodes ({}): they wait up to {} ms for their nodes to rejoin, "
               "then run again",
               held.size(), rejoining_.size(), fmt::join(rejoining_, ", "), opts_.node_rejoin_ms);
  self_->delayed_send(self_, std::chrono::milliseconds(opts_.node_rejoin_ms), rejoin_deadline_atom::value);
  schedule_tick();
}

std::vector<std::string> fleet_manager_state::reconcile(const node_announcement& a, int64_t now) {
  rejoining_.erase(a.name);
  // A report names an attempt the table runs on this node: same task, attempt and worker.
  auto matches = [&](const node_outcome& h) {
    const auto* r = attempts_.find(h.seq, h.attempt);
    return r != nullptr && r->node == a.name && r->worker_id == h.worker_id;
  };
  std::set<std::string> reported;
  for (const auto* list : {&a.running, &a.finished})
    for (const auto& h : *list)
      if (matches(h))
        reported.insert(h.worker_id);
  // What the table counts on this node and the node does not report (it restarted, or lost the
  // attempt) runs again; what it reports is counted on it again.
  auto lost = attempts_.take_if(
    [&](const running_attempt& r) { return r.node == a.name && reported.count(r.worker_id) == 0; });
  lose_attempts(lost, now, fmt::format("node {} rejoined without the attempt", a.name));
  std::vector<std::string> kept;
  for (const auto& h : a.running)
    if (matches(h)) {
      nodes_.table().started(a.name);
      kept.push_back(h.worker_id);
    }
  for (auto h : a.finished)
    if (matches(h)) {
      nodes_.table().started(a.name); // released again as it ends
      if (h.error)
        end_attempt(h.seq, h.attempt, std::move(h.error));
      else
        end_attempt(h.seq, h.attempt, std::move(h.outcome));
    }
  return kept;
}

void fleet_manager_state::on_rejoin_deadline() {
  auto now = now_ms();
  for (const auto& name : rejoining_) {
    auto lost = attempts_.take_if([&](const running_attempt& r) { return r.node == name; });
    if (lost.empty())
      continue;
    spdlog::warn("node {} did not rejoin within {} ms: its {} held attempts run again", name, opts_.node_rejoin_ms,
                 lost.size());
    lose_attempts(lost, now, fmt::format("node {} did not rejoin within {} ms of fleetd's start", name,
                                         opts_.node_rejoin_ms));
  }
  rejoining_.clear();
}

void fleet_manager_state::schedule_node_tick() {
  if (nodes_.empty())
    return;
  node_tick_timer_.arm(self_, std::chrono::milliseconds(opts_.node_heartbeat_ms), node_tick_atom::value);
}

void fleet_manager_state::on_node_tick() {
  node_tick_timer_.fired();
  auto timeout = std::chrono::milliseconds(opts_.node_timeout_ms);
  for (const auto& [name, handle] : nodes_.handles()) {
    // A late answer or failure for a node that has since been dropped (or replaced) changes nothing.
    auto stale = [this, name = name, generation = nodes_.table().generation(name)] {
      return !nodes_.current(name, generation);
    };
    self_->request(handle, timeout, heartbeat_atom::value)
      .then(
        guarded([this, name = name, stale](int32_t) {
          if (!stale())
            nodes_.table().heartbeat(name, now_ms());
        }),
        guarded([this, name = name, stale](caf::error& err) {
          if (!stale())
            drop_node(name, err == caf::sec::request_timeout
                              ? fmt::format("no answer to a heartbeat within {} ms", opts_.node_timeout_ms)
                              : error_text(err));
        }));
  }
  schedule_node_tick();
}

// -- attempts on nodes ----------------------------------------------------------

void fleet_manager_state::start_remote_attempt(const runnable_task& next, const std::string& node) {
  auto r = begin_attempt(next, node);
  node_attempt work{r.seq, r.attempt, r.worker_id, next.spec, r.deadline - r.spawned_at};
  attempts_.add(std::move(r));
  schedule_flush();
  schedule_tick();
  auto bytes = work.spec.data.size() + work.spec.id.size() + work.spec.deps.size();
  auto& outbox = node_outboxes_.try_emplace(node, max_node_batch, max_node_batch_bytes).first->second;
  if (outbox.add(std::move(work), bytes))
    send_node_outbox(node, outbox);
}

void fleet_manager_state::send_node_outboxes() {
  for (auto& [node, outbox] : node_outboxes_)
    if (!outbox.empty())
      send_node_outbox(node, outbox);
  // Empty between dispatch rounds: no outbox outlives its node's membership.
  node_outboxes_.clear();
}

void fleet_manager_state::send_node_outbox(const std::string& node, message_batch<node_attempt>& outbox) {
  auto work = outbox.take();
  if (auto handle = nodes_.handle(node))
    self_->send(*handle, execute_atom::value, std::move(work));
}

void fleet_manager_state::on_node_outcomes(const std::string& node, std::vector<node_outcome>& outcomes) {
  auto handle = nodes_.handle(node);
  const auto& sender = self_->current_sender();
  // Only the node's actor of the current join: a node that joined again under the name has lost
  // the attempts of its earlier join, and a stranger has none.
  if (handle == nullptr || sender == nullptr || sender->address() != handle->address())
    return;
  for (auto& o : outcomes) {
    const auto* r = attempts_.find(o.seq, o.attempt);
    if (r == nullptr || r->node != node || r->worker_id != o.worker_id)
      continue; // ended already (cancelled, timed out), or not this node's
    if (o.error)
      end_attempt(o.seq, o.attempt, std::move(o.error));
    else
      end_attempt(o.seq, o.attempt, std::move(o.outcome));
  }
  // Once for the whole message, not once per outcome: the freed slots fill together, and their
  // attempts go to the nodes in few messages.
  dispatch();
}

// -- starts held for their ends -------------------------------------------------

void fleet_manager_state::on_held_starts_due() {
  held_starts_timer_.fired();
  if (release_held_starts(false))
    schedule_flush();
}

bool fleet_manager_state::release_held_starts(bool all) {
  auto due = now_ms() - opts_.node_start_delay_ms;
  auto queued = false;
  while (!held_starts_.empty()) {
    auto [seq, attempt] = held_starts_.front();
    auto* r = attempts_.find(seq, attempt);
    if (r != nullptr && r->start_held) {
      if (!all && r->spawned_at > due) {
        held_starts_timer_.arm(self_, std::chrono::milliseconds(r->spawned_at - due), held_starts_atom::value);
        break;
      }
      r->start_held = false;
      --starts_held_;
      queue_start(*r);
      queued = true;
    }
    held_starts_.pop_front();
  }
  return queued;
}

} // namespace fleet
