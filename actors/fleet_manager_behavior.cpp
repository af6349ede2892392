// The fleet manager's behaviour: which message goes to which handler of its state, and which
// messages only the manager itself or fleetd's own process may send.

#include "actors/fleet_manager.hpp"

#include "actors/exception_guard.hpp"
#include "actors/origin.hpp"
#include "fleetd/error.hpp"
#include "fleet/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/spawn_options.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace fleet {

namespace {

/// While alive, the message being handled asks for a change: the events it writes name its sender.
class client_change {
public:
  explicit client_change(fleet_manager_state::self_pointer self) : state_(self->state) {
    state_.begin_client_change();
  }
  ~client_change() { state_.end_client_change(); }
  client_change(const client_change&) = delete;
  client_change& operator=(const client_change&) = delete;

private:
  fleet_manager_state& state_;
};

} // namespace

fleet_manager_actor::behavior_type
fleet_manager(fleet_manager_state::self_pointer self, fleet_manager_options opts) {
  if (auto err = self->state.init(self, std::move(opts))) {
    spdlog::error("fleet manager cannot start: {}", error_text(err));
    self->quit(std::move(err));
    return fleet_manager_actor::behavior_type::make_empty_behavior();
  }
  self->set_down_handler(guarded([self](caf::down_msg& msg) { self->state.on_down(msg); }));
  auto from_self = [self] { return self->current_sender() == self->ctrl(); };
  return {
    guarded([](hello_atom, const peer_version& peer) -> caf::result<peer_version> {
      if (auto err = check_peer_version(this_release(), peer, "the connecting client or node"))
        return err;
      return this_release();
    }),
    guarded([self](identify_atom, const std::string& name) { return self->state.identify(name); }),
    guarded([self](submit_atom, std::vector<task>& tasks) {
      client_change by{self};
      return self->state.submit(tasks);
    }),
    guarded([self](submit_atom, std::vector<task>& tasks, const std::string& key) {
      client_change by{self};
      return self->state.submit(tasks, key);
    }),
    guarded([self](upload_open_atom) { return self->state.open_upload(); }),
    guarded([self](upload_chunk_atom, const std::string& id, std::vector<task>& tasks) {
      return self->state.upload_chunk(id, tasks);
    }),
    guarded([self](upload_seal_atom, const std::string& id) {
      client_change by{self};
      return self->state.seal_upload(id);
    }),
    guarded([self](upload_seal_atom, const std::string& id, const std::string& key) {
      client_change by{self};
      return self->state.seal_upload(id, key);
    }),
    guarded([self](status_atom, const std::string& id) { return self->state.status(id); }),
    guarded([self](results_atom, const std::string& id) { return self->state.results(id); }),
    guarded([self](results_atom, const std::string& id, int64_t cursor, int32_t limit) {
      return self->state.results(id, cursor, limit);
    }),
    guarded([self](cancel_atom, const std::string& id) {
      client_change by{self};
      return self->state.cancel(id);
    }),
    guarded([self](cancel_atom, const std::string& id, std::vector<std::string>& task_ids) {
      client_change by{self};
      return self->state.cancel_tasks(id, task_ids);
    }),
    guarded([self](subscribe_atom, const std::string& id) { return self->state.subscribe(id); }),
    guarded([self](pause_atom, const std::string& id) {
      client_change by{self};
      return self->state.set_paused(id, true);
    }),
    guarded([self](resume_atom, const std::string& id) {
      client_change by{self};
      return self->state.set_paused(id, false);
    }),
    guarded([self](failed_atom, const std::string& id, int64_t cursor, int32_t limit) {
      return self->state.dead_letters(id, cursor, limit);
    }),
    guarded([self](tasks_atom, const std::string& id, int64_t cursor, int32_t limit) {
      return self->state.task_rows(id, cursor, limit);
    }),
    guarded([self](replay_atom, const std::string& id, std::vector<std::string>& task_ids) {
      client_change by{self};
      return self->state.replay(id, task_ids);
    }),
    guarded([self](scale_atom, int32_t n) -> caf::result<fleet_config> {
      if (auto err = validate_worker_count(n))
        return err;
      config_update update;
      update.max_concurrent_workers = n;
      client_change by{self};
      return self->state.reconfigure(update);
    }),
    guarded([self](stats_atom) { return self->state.stats(); }),
    guarded([self](workers_atom) { return self->state.workers(); }),
    guarded([self](overview_atom, int32_t batches, int32_t failures) { return self->state.overview(batches, failures); }),
    guarded([self](update_config_atom, const config_update& update) {
      client_change by{self};
      return self->state.reconfigure(update);
    }),
    guarded([self](config_reset_atom, const std::vector<std::string>& names) {
      client_change by{self};
      return self->state.reset_config(names);
    }),
    guarded([self](get_config_atom) { return self->state.config(); }),
    guarded([self](limits_atom) { return self->state.limits(); }),
    guarded([self](coordinator_atom) { return self->state.coordinator(); }),
    guarded([self](node_join_atom, const node_announcement& a, const node_actor& handle) {
      return self->state.join_node(a, handle);
    }),
    guarded([self](node_drain_atom, const std::string& name) {
      client_change by{self};
      return self->state.drain_node(name);
    }),
    guarded([self](submit_result_atom, const std::string& worker_id, task_outcome& outcome) {
      return self->state.submit_result(worker_id, std::move(outcome));
    }),
    guarded([self](progress_atom, const std::string& worker_id, double progress, const std::string& note) {
      self->state.on_progress(worker_id, progress, note);
    }),
    guarded([self](outcomes_atom, const std::string& node, std::vector<node_outcome>& outcomes) {
      self->state.on_node_outcomes(node, outcomes);
    }),
    guarded([self](nodes_atom) { return self->state.nodes(); }),
    guarded([self, from_self](node_tick_atom) {
      if (from_self())
        self->state.on_node_tick();
    }),
    guarded([self, from_self](rejoin_deadline_atom) {
      if (from_self())
        self->state.on_rejoin_deadline();
    }),
    guarded([self, from_self](wakeup_atom) {
      if (from_self())
        self->state.on_wakeup();
    }),
    guarded([self, from_self](flush_atom) {
      if (from_self())
        self->state.on_flush_message();
    }),
    guarded([self](audit_atom, const std::string& batch_id, const std::string& detail) -> caf::result<bool> {
      if (!sent_from_local_node(self))
        return caf::make_error(errc::not_permitted, "only fleetd's own HTTP server records API requests");
      return self->state.record_request(batch_id, detail);
    }),
    guarded([self](drain_atom, int64_t timeout_ms) -> caf::result<int32_t> {
      if (!sent_from_local_node(self))
        return caf::make_error(errc::not_permitted, "only fleetd itself may drain the fleet");
      return self->state.drain(timeout_ms);
    }),
    guarded([self, from_self](drain_deadline_atom) {
      if (from_self())
        self->state.on_drain_deadline();
    }),
    guarded([self, from_self](tick_atom) {
      if (from_self())
        self->state.on_tick();
    }),
    guarded([self, from_self](held_starts_atom) {
      if (from_self())
        self->state.on_held_starts_due();
    }),
    guarded([self](committed_atom) { self->state.on_committed(); }),
    guarded([self, from_self](autoscale_atom) {
      if (from_self())
        self->state.on_autoscale();
    }),
    guarded([self, from_self](prune_tick_atom) {
      if (from_self())
        self->state.on_prune_tick();
    }),
    guarded([self](prune_atom) {
      client_change by{self};
      return self->state.prune_now();
    }),
    guarded([self](schedule_add_atom, schedule_spec& spec, bool replace) {
      client_change by{self};
      return self->state.add_schedule(spec, replace);
    }),
    guarded([self](schedules_atom) { return self->state.list_schedules(); }),
    guarded([self](schedules_atom, const std::string& name) { return self->state.get_schedule(name); }),
    guarded([self](schedule_pause_atom, const std::string& name, bool paused) {
      client_change by{self};
      return self->state.pause_schedule(name, paused);
    }),
    guarded([self](schedule_remove_atom, const std::string& name) {
      client_change by{self};
      return self->state.remove_schedule(name);
    }),
    guarded([self](schedule_run_atom, const std::string& name) {
      client_change by{self};
      return self->state.run_schedule(name);
    }),
    guarded([self, from_self](progress_flush_atom) {
      if (from_self())
        self->state.on_progress_flush();
    }),
    guarded([self, from_self](schedule_tick_atom) {
      if (from_self())
        self->state.on_schedule_tick();
    }),
    guarded([self](queues_atom) { return self->state.list_queues(); }),
    guarded([self](queue_set_atom, const std::string& name, const queue_change& change) {
      client_change by{self};
      return self->state.set_queue(name, change);
    }),
    guarded([self, from_self](clock_check_atom) {
      if (from_self())
        self->state.on_clock_check();
    }),
    guarded([self, from_self](rate_tick_atom) {
      if (from_self())
        self->state.on_rate_tick();
    }),
  };
}

fleet_manager_actor spawn_fleet_manager(caf::actor_system& sys, fleet_manager_options opts,
                                        bool detached) {
  if (detached)
    return sys.spawn<caf::detached>(fleet_manager, std::move(opts));
  return sys.spawn(fleet_manager, std::move(opts));
}

} // namespace fleet
