#pragma once

// Every typed interface of fleetd, one line of comment per message.

#include "fleetd/batch_state.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleetd/fleet_stats.hpp"
#include "fleetd/node_info.hpp"
#include "fleetd/overview.hpp"
#include "fleetd/peer_version.hpp"
#include "fleetd/retention.hpp"
#include "fleetd/queue.hpp"
#include "fleetd/schedule.hpp"
#include "fleetd/task.hpp"
#include "fleetd/submit_limits.hpp"

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace fleet {

using submit_atom = caf::atom_constant<caf::atom("submit")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using results_atom = caf::atom_constant<caf::atom("results")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using scale_atom = caf::atom_constant<caf::atom("scale")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using workers_atom = caf::atom_constant<caf::atom("workers")>;
using update_config_atom = caf::atom_constant<caf::atom("setconfig")>;
using get_config_atom = caf::atom_constant<caf::atom("getconfig")>;
using coordinator_atom = caf::atom_constant<caf::atom("coord")>;
using wakeup_atom = caf::atom_constant<caf::atom("wakeup")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using execute_atom = caf::atom_constant<caf::atom("execute")>;
using result_atom = caf::atom_constant<caf::atom("result")>;
using summary_atom = caf::atom_constant<caf::atom("summary")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using drain_deadline_atom = caf::atom_constant<caf::atom("draindue")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using upload_open_atom = caf::atom_constant<caf::atom("upopen")>;
using upload_chunk_atom = caf::atom_constant<caf::atom("upchunk")>;
using upload_seal_atom = caf::atom_constant<caf::atom("upseal")>;
using committed_atom = caf::atom_constant<caf::atom("committed")>;
using autoscale_atom = caf::atom_constant<caf::atom("autoscale")>;
using node_join_atom = caf::atom_constant<caf::atom("nodejoin")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using node_tick_atom = caf::atom_constant<caf::atom("nodetick")>;
using dropped_atom = caf::atom_constant<caf::atom("dropped")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;
using replay_atom = caf::atom_constant<caf::atom("replay")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using batch_done_atom = caf::atom_constant<caf::atom("batchdone")>;
using pause_atom = caf::atom_constant<caf::atom("pause")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using overview_atom = caf::atom_constant<caf::atom("overview")>;
using limits_atom = caf::atom_constant<caf::atom("limits")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using node_drain_atom = caf::atom_constant<caf::atom("nodedrain")>;
using submit_result_atom = caf::atom_constant<caf::atom("submitres")>;
using audit_atom = caf::atom_constant<caf::atom("audit")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using prune_atom = caf::atom_constant<caf::atom("prune")>;
using prune_tick_atom = caf::atom_constant<caf::atom("prunetick")>;
using tasks_atom = caf::atom_constant<caf::atom("tasks")>;
using progress_flush_atom = caf::atom_constant<caf::atom("progflush")>;
using schedule_add_atom = caf::atom_constant<caf::atom("schedadd")>;
using schedules_atom = caf::atom_constant<caf::atom("schedules")>;
using schedule_pause_atom = caf::atom_constant<caf::atom("schedpause")>;
using schedule_remove_atom = caf::atom_constant<caf::atom("schedrm")>;
using schedule_run_atom = caf::atom_constant<caf::atom("schedrun")>;
using schedule_tick_atom = caf::atom_constant<caf::atom("schedtick")>;
using archive_atom = caf::atom_constant<caf::atom("archive")>;
using rejoin_atom = caf::atom_constant<caf::atom("rejoin")>;
using rejoin_deadline_atom = caf::atom_constant<caf::atom("rejoindue")>;
using queues_atom = caf::atom_constant<caf::atom("queues")>;
using queue_set_atom = caf::atom_constant<caf::atom("queueset")>;
using rate_tick_atom = caf::atom_constant<caf::atom("ratetick")>;
using identify_atom = caf::atom_constant<caf::atom("identify")>;
using config_reset_atom = caf::atom_constant<caf::atom("cfgreset")>;
using clock_check_atom = caf::atom_constant<caf::atom("clockchk")>;
using held_starts_atom = caf::atom_constant<caf::atom("heldstart")>;
using outcomes_atom = caf::atom_constant<caf::atom("outcomes")>;
using outcome_flush_atom = caf::atom_constant<caf::atom("outflush")>;

/// A short-lived worker: runs one attempt of one task, replies, and quits.
using worker_actor = caf::typed_actor<
  // Runs attempt N (1-based) of the task.
  caf::replies_to<execute_atom, task, int32_t>::with<task_outcome>>;

/// A fleet-node process as fleetd sees it: it runs attempts on workers of its own.
using node_actor = caf::typed_actor<
  // Runs each attempt on a fresh worker (fleetd stops an attempt once its time is up); the node
  // reports their outcomes to fleetd with outcomes_atom, several to a message.
  caf::reacts_to<execute_atom, std::vector<node_attempt>>,
  // Stops the worker of an attempt fleetd gave up on (cancelled, timed out).
  caf::reacts_to<stop_atom, std::string>,
  // fleetd checks that the node still answers: the attempts it runs.
  caf::replies_to<heartbeat_atom>::with<int32_t>,
  // fleetd dropped the node (the reason): its attempts run elsewhere; it should join again.
  caf::reacts_to<dropped_atom, std::string>>;

/// Aggregates finished results (the seed's coordinator).
using coordinator_actor = caf::typed_actor<
  // The final results of the attempts one group commit made durable, sent once per commit
  // (from the local node only; others are ignored).
  caf::reacts_to<result_atom, std::vector<task_result>>,
  // Totals, success rate and average duration so far.
  caf::replies_to<summary_atom>::with<result_summary>,
  // The seed's submitResult(workerId, result): a worker of this fleet (fleetd's own, or one on a
  // joined node) reports the outcome of its attempt itself. It becomes the attempt's outcome and
  // is counted once, when its commit reports it; true once stored, false if the attempt had
  // already ended (its outcome counted then, this one not at all). From anyone else:
  // errc::not_permitted.
  caf::replies_to<submit_result_atom, std::string, task_outcome>::with<bool>,
  // A worker's progress on its attempt (worker id, 0..1, a note), from that worker or its node:
  // shown by active_workers until the attempt ends. Others are ignored.
  caf::reacts_to<progress_atom, std::string, double, std::string>>;

/// The public API of the fleet manager: what fleetd publishes for other CAF nodes.
using fleet_api_actor = caf::typed_actor<
  // The first request of every client and node: its protocol version; fleetd's own, or
  // errc::incompatible_version naming both if they differ. connect_fleet sends it.
  caf::replies_to<hello_atom, peer_version>::with<peer_version>,
  // The name a client goes by (fleetctl: user@host; at most 200 bytes of UTF-8, no control
  // characters), recorded with the events of the changes it asks for; the reply is that record:
  // {"node", "peer", "tls", "client"} as JSON. connect_fleet sends it after the hello.
  caf::replies_to<identify_atom, std::string>::with<std::string>,
  // submit_batch(tasks): validates, stores in one transaction, replies the batch id.
  caf::replies_to<submit_atom, std::vector<task>>::with<std::string>,
  // submit_batch(tasks, key): idempotent submit. The first submit with a key stores the batch;
  // every later one with the same key (also after a restart) returns that batch's id and stores
  // nothing, whatever its tasks. An empty key is no key.
  caf::replies_to<submit_atom, std::vector<task>, std::string>::with<std::string>,
  // submit_batch in chunks, for batches too big for one message: open an upload, send chunks
  // (each validated and stored, duplicates across chunks refused), then seal it: the batch id.
  // Nothing runs and nothing is visible before the seal, which stores the batch at once.
  caf::replies_to<upload_open_atom>::with<std::string>,
  caf::replies_to<upload_chunk_atom, std::string, std::vector<task>>::with<int64_t>,
  caf::replies_to<upload_seal_atom, std::string>::with<std::string>,
  // Seals an upload under a client key: as submit with a key (a known key drops the upload).
  caf::replies_to<upload_seal_atom, std::string, std::string>::with<std::string>,
  // batch_status(id); errc::unknown_batch if there is no such batch.
  caf::replies_to<status_atom, std::string>::with<batch_status>,
  // batch_results(id): every finished task, in submission order (refused above 100,000: page).
  caf::replies_to<results_atom, std::string>::with<std::vector<task_result>>,
  // batch_results(id, cursor, limit): a page of finished tasks after cursor (0 at first).
  caf::replies_to<results_atom, std::string, int64_t, int32_t>::with<results_page>,
  // Dead letters: failed tasks of one batch (or of all: empty id) after cursor (0 at first),
  // oldest first, up to limit (1..10000).
  caf::replies_to<failed_atom, std::string, int64_t, int32_t>::with<dead_letter_page>,
  // A batch's tasks where they are now: those after cursor (0 at first), in submission order, each
  // with its state, attempts, latest progress and the tasks it runs after; up to limit (1..10000).
  caf::replies_to<tasks_atom, std::string, int64_t, int32_t>::with<task_page>,
  // Replays failed tasks of a batch (all of them: no ids): pending again with a fresh retry budget,
  // their attempts kept. All or nothing; replies how many.
  caf::replies_to<replay_atom, std::string, std::vector<std::string>>::with<int64_t>,
  // Pauses a batch, or the whole fleet (empty id): waiting work stays queued, running attempts
  // finish, no new attempt starts until resumed; survives restarts. True if it was not paused.
  caf::replies_to<pause_atom, std::string>::with<bool>,
  // Resumes a batch or the fleet (empty id). True if it was paused.
  caf::replies_to<resume_atom, std::string>::with<bool>,
  // Completion notifications: the sender gets `batch_done_atom, batch_status` when the batch
  // finishes (once), or, with an empty id, whenever any batch finishes (until it goes away). The
  // reply is the batch's status now (a batch that has finished already is not registered), or an
  // empty status for all batches.
  caf::replies_to<subscribe_atom, std::string>::with<batch_status>,
  // cancel_batch(id): true if the batch existed and was not finished.
  caf::replies_to<cancel_atom, std::string>::with<bool>,
  // Cancels some tasks of a batch: the waiting ones end cancelled, running attempts are stopped,
  // finished ones stay. All or nothing for unknown ids; replies how many were cancelled.
  caf::replies_to<cancel_atom, std::string, std::vector<std::string>>::with<int64_t>,
  // scale_workers(n >= 1): the new configuration, persisted.
  caf::replies_to<scale_atom, int32_t>::with<fleet_config>,
  // stats(): fleet-wide figures.
  caf::replies_to<stats_atom>::with<fleet_stats>,
  // active_workers(): running workers, then the most recently finished ones.
  caf::replies_to<workers_atom>::with<std::vector<worker_info>>,
  // update_config(partial config): the new configuration, validated and persisted.
  caf::replies_to<update_config_atom, config_update>::with<fleet_config>,
  // get_config(): the configuration in force.
  caf::replies_to<get_config_atom>::with<fleet_config>,
  // Clears the stored overrides of the named fields (either spelling): each goes back to the
  // value fleetd started with (its config file); a config_reset event records it.
  caf::replies_to<config_reset_atom, std::vector<std::string>>::with<fleet_config>,
  // The coordinator that aggregates this fleet's results.
  caf::replies_to<coordinator_atom>::with<coordinator_actor>,
  // A fleet-node joins: from now on fleetd places attempts of the announced types on it, checks
  // on it with heartbeats, and drops it (running attempts run again) when it stops answering.
  caf::replies_to<node_join_atom, node_announcement, node_actor>::with<node_welcome>,
  // A joined node (only the node actor itself) leaves soon: fleetd places nothing more on it;
  // its running attempts finish there, or run again elsewhere once it is gone. Replies how many
  // attempts fleetd counts as running there.
  caf::replies_to<node_drain_atom, std::string>::with<int32_t>,
  // A joined node (only the node actor itself) reports how attempts fleetd gave it ended.
  // Outcomes of attempts fleetd no longer counts as running there (cancelled, timed out, or given
  // to the node before it was dropped) change nothing.
  caf::reacts_to<outcomes_atom, std::string, std::vector<node_outcome>>,
  // The nodes of the fleet, fleetd's own workers ("local") first.
  caf::replies_to<nodes_atom>::with<std::vector<node_info>>,
  // One snapshot for a status page: stats, the newest `batches` batches, workers, the latest
  // `failures` failed tasks, nodes (each limit 0..1000).
  caf::replies_to<overview_atom, int32_t, int32_t>::with<fleet_overview>,
  // What fleetd accepts (fleet.max-*): a client checks its input and sizes its messages by it.
  caf::replies_to<limits_atom>::with<submit_limits>,
  // Runs a retention pass now (or joins the one running): what it removed, once it is done.
  caf::replies_to<prune_atom>::with<prune_report>,
  // Adds a recurring schedule (true: or replaces the definition of the one of that name, keeping
  // its history; false: errc::schedule_exists if the name is taken). Validated like a submit
  // first; the stored schedule once committed.
  caf::replies_to<schedule_add_atom, schedule_spec, bool>::with<schedule_info>,
  // Every schedule, by name, with its next slot and its last batch's state (templates left out).
  caf::replies_to<schedules_atom>::with<std::vector<schedule_info>>,
  // One schedule with its template; errc::unknown_schedule for an unknown name.
  caf::replies_to<schedules_atom, std::string>::with<schedule_info>,
  // Pauses (true) or resumes (false) a schedule: true if that changed it. Slots that pass while
  // it is paused are not run. errc::unknown_schedule for an unknown name.
  caf::replies_to<schedule_pause_atom, std::string, bool>::with<bool>,
  // Deletes a schedule (its batches stay): true; errc::unknown_schedule for an unknown name.
  caf::replies_to<schedule_remove_atom, std::string>::with<bool>,
  // Fires a schedule now, outside its slots (paused or not, overlap or not): the batch's id.
  caf::replies_to<schedule_run_atom, std::string>::with<std::string>,
  // Every queue with its limits in force and what it runs now, "default" first.
  caf::replies_to<queues_atom>::with<std::vector<queue_info>>,
  // Sets some of a queue's limits at runtime (creating the queue if none has the name): stored,
  // winning over the config file, with a queue_changed event. The queue once committed.
  caf::replies_to<queue_set_atom, std::string, queue_change>::with<queue_info>>;

/// The fleet manager itself: the public API plus messages that only its own process may send.
/// A remote node can still address them (CAF delivers any message to a remote actor), so the
/// manager checks where each one comes from.
using fleet_manager_actor = fleet_api_actor::extend<
  // From the manager itself: retries may be due.
  caf::reacts_to<wakeup_atom>,
  // From the manager itself: commit the pending state changes.
  caf::reacts_to<flush_atom>,
  // From the local node (fleetd on SIGTERM): take no new work, let running attempts finish for
  // up to the given ms, record the rest as interrupted. Replies how many were interrupted.
  caf::replies_to<drain_atom, int64_t>::with<int32_t>,
  // From the manager itself: the drain deadline passed.
  caf::reacts_to<drain_deadline_atom>,
  // From the manager itself: look for attempts past their worker_timeout.
  caf::reacts_to<tick_atom>,
  // From the store's writer: writes finished. Carries nothing, so a forged one only makes the
  // manager look for outcomes that are not there.
  caf::reacts_to<committed_atom>,
  // From the manager itself: time to ask the auto-scaling policy.
  caf::reacts_to<autoscale_atom>,
  // From the manager itself: time to send heartbeats to the nodes.
  caf::reacts_to<node_tick_atom>,
  // From the manager itself: the nodes whose attempts it held at its start had their time to rejoin.
  caf::reacts_to<rejoin_deadline_atom>,
  // From the manager itself: time for a retention pass.
  caf::reacts_to<prune_tick_atom>,
  // From the manager itself: a schedule's slot may be due.
  caf::reacts_to<schedule_tick_atom>,
  // From the manager itself: time to store the progress reported since the last time.
  caf::reacts_to<progress_flush_atom>,
  // From the manager itself: a queue held back by its rate may start an attempt again.
  caf::reacts_to<rate_tick_atom>,
  // From the manager itself: time to compare its clock with the wall clock.
  caf::reacts_to<clock_check_atom>,
  // From the manager itself: starts of attempts on fleet-nodes held for their ends are due.
  caf::reacts_to<held_starts_atom>,
  // From the coordinator, on behalf of a worker (the sender): submit_result.
  caf::replies_to<submit_result_atom, std::string, task_outcome>::with<bool>,
  // From fleetd's own HTTP server: record who asked for a change (event api_request, with the
  // batch id and the detail JSON); replies once the event is committed.
  caf::replies_to<audit_atom, std::string, std::string>::with<bool>,
  // From the coordinator, on behalf of a worker (the sender): its progress.
  caf::reacts_to<progress_atom, std::string, double, std::string>>;

/// Registers every fleetd message type and error category with a CAF config. Both ends of a
/// remote connection must call it, so that type names match.
void register_fleet_types(caf::actor_system_config& cfg);

} // namespace fleet
