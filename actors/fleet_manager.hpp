#pragma once

#include "fleetd/interfaces.hpp"
#include "fleetd/worker.hpp"
#include "fleet/archive.hpp"
#include "fleet/autoscale.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleet/metrics.hpp"
#include "fleet/schedule.hpp"
#include "fleet/store.hpp"
#include "fleet/transitions.hpp"
#include "fleet/validation.hpp"
#include "actors/one_shot_timer.hpp"
#include "actors/requesters.hpp"
#include "fleetd/error.hpp"
#include "fleet/manager/attempt_table.hpp"
#include "fleet/manager/drain.hpp"
#include "fleet/manager/group_commit.hpp"
#include "fleet/manager/new_batch.hpp"
#include "fleet/manager/node_membership.hpp"
#include "fleet/manager/queue_scheduler.hpp"
#include "fleet/manager/storage_health.hpp"
#include "fleet/manager/subscriptions.hpp"
#include "fleet/manager/upload_quota.hpp"
#include "fleet/message_batch.hpp"
#include "fleet/write_pipeline.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace fleet {

/// What the fleet manager is started with.
struct fleet_manager_options {
  /// Opened and migrated by the caller; from now on used by the manager alone (its writer, plus a
  /// read-only second connection to the same file for queries).
  std::shared_ptr<fleet_store> store;
  /// Writes on a thread of their own (fleetd), or at once on the manager's (deterministic tests).
  /// Either way a reply waits for the commit that makes it true.
  bool writer_thread = false;
  /// The start-up configuration (the config file's). Fields changed at runtime and stored in the
  /// database win over it.
  fleet_config initial_config;
  std::shared_ptr<const worker_registry> registry;
  std::shared_ptr<execution_hooks> hooks = std::make_shared<execution_hooks>();
  submit_limits limits;
  /// Group commit: state changes wait for the next flush, which runs once the mailbox has no
  /// earlier messages, or at once when this many are waiting and no group is being written.
  size_t max_pending_transitions = 512;
  /// Group commits handed to the writer and not yet committed (submits and cancels hand over the
  /// changes before them as groups of their own): at this many no new attempts start until one
  /// commits (the writer sets the pace).
  size_t max_groups_in_flight = 4;
  /// Changes waiting behind the group being written, as many as this many full groups
  /// (max_pending_transitions each), and the bytes of their results, errors and ids: at either
  /// bound no new attempts start until the group commits. The changes that wait go as one group,
  /// so the bigger this is, the more tasks share a commit when the writer is slow.
  size_t max_waiting_groups = 16;
  size_t max_waiting_bytes = size_t{64} << 20;
  /// Group commit: how long the first queued change waits for others before the commit; 0 commits
  /// once the mailbox holds no earlier message. Replies that depend on a change still wait for it.
  int64_t commit_delay_ms = 0;
  /// The most results one unpaged batch_results answer carries; bigger batches are paged.
  int64_t max_unpaged_results = 100'000;
  /// Retention (fleet.retain-finished, fleet.retain-events; 0 keeps everything), checked every
  /// prune_interval_ms in steps of at most prune_step_rows tasks (and as many events) each.
  int64_t retain_finished_ms = int64_t{7} * 86'400'000;
  int64_t retain_events_ms = int64_t{30} * 86'400'000;
  int64_t prune_interval_ms = 60'000;
  int64_t prune_step_rows = 2'000;
  /// fleet.archive-dir: each finished batch is written there (gzip JSON Lines) before retention
  /// deletes it; empty: none. The directory exists and takes files (checked at start).
  std::string archive_dir;
  /// Writes one batch's archive into archive_dir, on the archiver's thread; none: archive_batch
  /// reads the SQLite file (the store's file). fleetd on PostgreSQL sets a pg_archive.
  archive_fn archive;
  /// Delayed tasks made pending per group commit: a short commit each, however many are due at once.
  int64_t promotion_slice = 10'000;
  /// Uploads (batches sent in chunks) not sealed within this long are dropped at start-up.
  int64_t upload_expiry_ms = int64_t{24} * 3600 * 1000;
  /// Moves max_concurrent_workers with the backlog (off by default).
  autoscale_policy autoscale;
  /// A user's policy instead of the built-in one (daemon_extensions::autoscale); turns
  /// autoscaling on. Its answer is kept within the policy's min and max.
  autoscale_hook user_autoscale;
  /// The most attempts fleetd's own workers run at once (fleet.local-workers); the rest go to
  /// fleet-node processes. -1: up to max_concurrent_workers, which bounds the whole fleet.
  int32_t local_capacity = -1;
  /// How often each fleet-node gets a heartbeat, and how long it has to answer before it is
  /// dropped and its running attempts run again.
  int64_t node_heartbeat_ms = 1000;
  int64_t node_timeout_ms = 5000;
  /// After a restart or a failover: how long the attempts that were running on fleet-nodes stay
  /// running for their nodes to rejoin and report on them (the nodes keep running them, see
  /// node.rejoin-window); those whose node has not rejoined by then run again. 0: they run again
  /// at once, recovered as interrupted like fleetd's own.
  int64_t node_rejoin_ms = 0;
  /// How long the start of an attempt on a fleet-node waits for its end before it is written
  /// (fleet.node-start-delay): an attempt that ends within it is written once, start and end in
  /// one row, instead of a start and then an update. The cost: an attempt that has not been
  /// written when fleetd dies is not one its node can report on at a rejoin; it runs again. 0:
  /// each start goes with the next group commit.
  int64_t node_start_delay_ms = 20;
  /// The most bytes of one attempt's result (fleet.max-task-result): a bigger result fails its task
  /// without a retry, and a longer error is cut to it. Nothing reaches the store that SQLite cannot
  /// bind, and no worker's output can hold the writer's memory.
  size_t max_task_result = size_t{64} << 20;
  /// The most bytes of dependency results one task is given (fleet.max-dependency-results): a
  /// task whose dependencies' results hold more fails when it would start, without a retry. At
  /// most max_dependency_object_bytes. An attempt on a node is also refused what does not fit in
  /// one message beside its task (limits.max_message_bytes).
  size_t max_dependency_results = size_t{64} << 20;
  /// fleet.node-names = certificate: a remote node joins only under the common name of the TLS
  /// client certificate its connection presented.
  bool node_names_from_certificates = false;
  /// A task whose attempts were lost this many times to a crash of fleetd or of their node
  /// (fleet.max-interruptions) fails for good instead of running again: a poison task.
  int32_t max_interruptions = 3;
  /// Where attempts on fleetd's own workers are noted just before they start (fleetd: `<db>-starts`),
  /// so that one that takes the process down before its start commits is still counted. Null: none.
  std::shared_ptr<start_journal> journal;
  /// The programs of the previous run found still running at this start and stopped (fleetd:
  /// stop_orphans on the child journal, before anything starts): named in their attempts and events.
  std::vector<stopped_orphan> orphans;
  /// fleetd records its start and stop (fleetd_runs, fleetd_started/fleetd_stopped events) with
  /// these: its version, pid and daemon options in force (name, value as text). None: nothing
  /// recorded (tests, embeddings of the manager alone).
  struct run_identity {
    std::string version;
    int64_t pid = 0;
    std::vector<std::pair<std::string, std::string>> options;
  };
  std::optional<run_identity> run;
  /// How many finished workers active_workers() still lists.
  size_t recent_workers_kept = 32;
  /// Counted as changes commit; fleetd's HTTP server renders them for Prometheus.
  std::shared_ptr<fleet_metrics> metrics = std::make_shared<fleet_metrics>();
  /// Seeds batch ids and backoff jitter; 0 draws from std::random_device.
  uint64_t random_seed = 0;
  /// Schedules declared in the config file ([schedule.NAME]): added at start, or updated when
  /// they differ from the stored ones.
  std::vector<schedule_spec> declared_schedules;
  /// Queues declared in the config file ([queue.NAME]); what was set at runtime wins field by field.
  std::map<std::string, queue_limits> declared_queues;
  /// The wall clock (ms since the epoch): read at start, where stored times and schedule slots
  /// count from, moved on by the actor clock, and read again every `clock_check_ms` to follow its
  /// steps. Empty: the system clock (tests start a manager as if at another time, or step it).
  std::function<int64_t()> wall_clock;
  /// How often the wall clock is compared with the manager's (fleetd: 1000); 0: never (tests whose
  /// test clock stands for the wall clock).
  int64_t clock_check_ms = 0;
  /// A difference this big or bigger is a step, which the manager follows and records.
  int64_t clock_step_tolerance_ms = 1000;
};

class fleet_manager_state {
public:
  using self_pointer = fleet_manager_actor::stateful_pointer<fleet_manager_state>;

  static inline const char* name = "fleet.manager";

  ~fleet_manager_state();

  caf::error init(self_pointer self, fleet_manager_options opts);

  /// `key`: see fleet_api_actor's idempotent submit; empty for none.
  caf::result<std::string> submit(std::vector<task>& tasks, const std::string& key = {});
  caf::result<std::string> open_upload();
  caf::result<int64_t> upload_chunk(const std::string& upload_id, std::vector<task>& tasks);
  caf::result<std::string> seal_upload(const std::string& upload_id, const std::string& key = {});
  caf::result<batch_status> status(const std::string& batch_id);
  caf::result<std::vector<task_result>> results(const std::string& batch_id);
  caf::result<results_page> results(const std::string& batch_id, int64_t cursor, int32_t limit);
  caf::result<bool> cancel(const std::string& batch_id);
  caf::result<int64_t> cancel_tasks(const std::string& batch_id, std::vector<std::string>& task_ids);
  /// The attempts a cancel stopped, as its write records them: the starts that were still held
  /// (written before the cancel, so that their tasks read as running rather than waiting), then
  /// the ends.
  struct stopped_attempts {
    std::vector<transition> held_starts;
    std::vector<transition> ends;
  };
  /// Takes the running attempts `which` selects out of the table and stops them.
  stopped_attempts stop_for_cancel(const std::function<bool(const running_attempt&)>& which, int64_t now);
  /// A cancel that could not be stored stopped attempts all the same: they are recorded as
  /// interrupted (their tasks run again), as a drain does.
  void requeue_stopped(const stopped_attempts& stopped, const caf::error& err);
  /// What a cancel's write reports: the waiting tasks it cancelled (none: an unknown, finished or
  /// cancelled batch, and nothing written) and the milestones it reached.
  struct cancel_written {
    std::optional<int64_t> waiting;
    std::vector<fleet_store::batch_milestone> milestones;
  };
  /// A cancel's own change in the store: the batch's tasks, or the named ones.
  using cancel_step = std::function<caf::expected<std::optional<fleet_store::cancelled_batch>>(fleet_store&)>;
  /// The write both cancels make, in one transaction: the stopped attempts' held starts, `step`,
  /// then the stopped attempts' ends. Until it is done no task of the batch starts; if it fails,
  /// the stopped attempts are requeued. `then` gets the result before the milestones are logged.
  void write_cancel(const std::string& batch_id, stopped_attempts stops, cancel_step step,
                    std::function<void(caf::expected<cancel_written>&)> then);
  caf::result<batch_status> subscribe(const std::string& batch_id);
  caf::result<bool> set_paused(const std::string& batch_id, bool paused);
  /// A client names itself (identify_atom); the answer, once its address is known, is how fleetd
  /// records it in the events of its changes (fleet_manager_identity.cpp).
  caf::result<std::string> identify(const std::string& client_name);
  /// Between these two, the current message asks for a change: the jobs `write` posts record its
  /// sender as the requester of their events (client_change in fleet_manager_behavior.cpp).
  void begin_client_change();
  void end_client_change() { requester_.clear(); }
  /// Writes an api_request event: who asked fleetd's HTTP API for a change, and what came of it.
  caf::result<bool> record_request(const std::string& batch_id, const std::string& detail_json);
  caf::result<dead_letter_page> dead_letters(const std::string& batch_id, int64_t cursor, int32_t limit);
  caf::result<task_page> task_rows(const std::string& batch_id, int64_t cursor, int32_t limit);
  caf::result<int64_t> replay(const std::string& batch_id, std::vector<std::string>& task_ids);
  caf::result<fleet_config> reconfigure(const config_update& update);
  caf::result<fleet_config> reset_config(const std::vector<std::string>& names);
  /// Puts `update` in force once its write committed (`err` empty), and answers the client.
  void config_stored(caf::error err, const config_update& update, caf::typed_response_promise<fleet_config> rp,
                     const char* what);
  caf::result<fleet_stats> stats();
  caf::result<fleet_overview> overview(int32_t batches, int32_t failures);
  std::vector<worker_info> workers() const;
  const fleet_config& config() const { return cfg_; }
  const submit_limits& limits() const { return opts_.limits; }
  /// How many bytes of results one answer carries: a quarter of the largest message, and at most
  /// 16 MiB, so that clients with CAF's default bounds take it too.
  size_t answer_bytes() const { return std::min(opts_.limits.max_message_bytes / 4, size_t{16} << 20); }
  coordinator_actor coordinator() const { return coordinator_; }
  caf::result<node_welcome> join_node(const node_announcement& a, const node_actor& handle);
  /// The join, once the announcement's name may be taken: answers through `rp`.
  void admit_node(const node_announcement& a, const node_actor& handle,
                  caf::typed_response_promise<node_welcome> rp);
  /// Calls `done` with the common name of the TLS certificate the connection of `node` presented
  /// (empty: none, or not over TLS).
  void common_name_of(const caf::node_id& node, std::function<void(const std::string&)> done);
  /// A node announced that it leaves: no more placements on it.
  caf::result<int32_t> drain_node(const std::string& name);
  /// A worker reports its attempt's outcome itself (through the coordinator).
  caf::result<bool> submit_result(const std::string& worker_id, task_outcome outcome);
  /// The running attempt of `worker_id`, and whether the current message comes from its worker
  /// (fleetd's own) or from the node that runs it.
  std::optional<std::pair<int64_t, int32_t>> attempt_of_worker(const std::string& worker_id,
                                                               bool& from_its_worker) const;
  /// The outcomes a node reports, each handled as a local worker's; one dispatch for them all.
  void on_node_outcomes(const std::string& node, std::vector<node_outcome>& outcomes);
  /// A worker reports its progress (through the coordinator); kept with its running attempt.
  void on_progress(const std::string& worker_id, double progress, const std::string& note);
  /// Stores the latest progress of the attempts that reported since the last flush: at most one
  /// write a second, however often workers report.
  void on_progress_flush();
  std::vector<node_info> nodes() const;

  caf::result<int32_t> drain(int64_t timeout_ms);
  void on_drain_deadline();

  void on_flush_message();
  /// The writer finished jobs: runs their continuations.
  void on_committed();
  void on_autoscale();
  /// Retention (fleet_manager_retention.cpp): a pass every prune_interval_ms, or at once on
  /// request; its small steps queue behind the group commits as jobs of their own.
  void on_prune_tick();
  caf::result<prune_report> prune_now();
  /// Recurring schedules (fleet_manager_schedules.cpp).
  caf::result<schedule_info> add_schedule(schedule_spec& spec, bool replace);
  caf::result<std::vector<schedule_info>> list_schedules();
  caf::result<schedule_info> get_schedule(const std::string& name);
  caf::result<bool> pause_schedule(const std::string& name, bool paused);
  caf::result<bool> remove_schedule(const std::string& name);
  caf::result<std::string> run_schedule(const std::string& name);
  void on_schedule_tick();
  /// Queues (fleet_manager_queues.cpp).
  caf::result<std::vector<queue_info>> list_queues();
  caf::result<queue_info> set_queue(const std::string& name, const queue_change& change);
  void on_rate_tick();
  void on_clock_check();
  void on_node_tick();
  void on_rejoin_deadline();
  void on_tick();
  void on_held_starts_due();
  void on_wakeup();
  void on_down(const caf::down_msg& msg);

private:
  caf::expected<fleet_stats> current_stats();
  int64_t now_ms() const;

  /// What runs on the manager once a write committed (`caf::none`) or failed.
  using continuation = std::function<void(caf::error)>;
  /// Hands the pending transitions to the writer as one group commit.
  void commit_group();
  /// Commits the pending transitions, then `job` in a transaction of its own; `then` runs on the
  /// manager after that.
  void write(write_pipeline::job job, continuation then);
  void post(write_pipeline::job job, continuation then,
            write_pipeline::kind kind = write_pipeline::kind::independent);
  /// A job that returns a value and a continuation that gets it (or the error), as the untyped
  /// job and continuation the writer runs.
  template <class T>
  static std::pair<write_pipeline::job, continuation>
  typed_write(std::function<caf::expected<T>(fleet_store&)> job, std::function<void(caf::expected<T>)> then) {
    auto out = std::make_shared<std::optional<T>>(); // handed from the writer thread to the manager
    write_pipeline::job untyped_job = [job = std::move(job), out](fleet_store& store) -> caf::error {
      auto value = job(store);
      if (!value)
        return value.error();
      out->emplace(std::move(*value));
      return caf::none;
    };
    continuation untyped_then = [then = std::move(then), out](caf::error err) {
      if (err)
        then(std::move(err));
      else
        then(std::move(**out));
    };
    return {std::move(untyped_job), std::move(untyped_then)};
  }
  /// write() for a job that returns a value.
  template <class T>
  void write(std::function<caf::expected<T>(fleet_store&)> job, std::function<void(caf::expected<T>)> then) {
    auto [untyped_job, untyped_then] = typed_write<T>(std::move(job), std::move(then));
    write(std::move(untyped_job), std::move(untyped_then));
  }
  /// post() for a job that returns a value: no commit_group first (the group commit itself).
  template <class T>
  void write_now(std::function<caf::expected<T>(fleet_store&)> job, std::function<void(caf::expected<T>)> then,
                 write_pipeline::kind kind = write_pipeline::kind::independent) {
    auto [untyped_job, untyped_then] = typed_write<T>(std::move(job), std::move(then));
    post(std::move(untyped_job), std::move(untyped_then), kind);
  }
  void schedule_flush();
  /// One flush a second from now, unless one is already on its way (after a failed write).
  void schedule_flush_retry();
  void queue(transition change);
  /// Tracks whether the database takes writes (storage_), and says so in the log and the gauge.
  void note_write_outcome(const caf::error& err);
  void after_commit(std::function<void()> action);

  void dispatch();
  /// Fills the window of `q`'s runnable tasks if it is empty, and tops up the other queues' low
  /// windows in the same read; false if `q`'s cannot be read.
  bool fill_ready(queue_slot& q);
  /// Reads `q`'s window: fills it if empty, else (`top_up`) reads on up to `size` tasks.
  bool read_window(queue_slot& q, size_t size, bool top_up);
  /// Whether a task read from the runnable index must stay out of a window (running, its change
  /// uncommitted, its batch being cancelled).
  bool held_back(const runnable_task& row) const;
  void invalidate_ready() { queues_.invalidate_all(); }
  /// The tasks of a batch just stored (`first_seq` the first one's) enter the windows that no
  /// read would bring them into; a window they do not fit is read again from the top.
  /// `read_since_stored`: a window was read between the submit's post and now, so a read may
  /// have met them already (in a window, or started): those stay out.
  void offer_fresh(const std::string& batch_id, std::vector<task>& tasks, int64_t first_seq, int64_t now,
                   bool read_since_stored);
  /// Adds the config file's queues and what was set at runtime to the scheduler.
  caf::error load_queues(int64_t now);
  /// An attempt left the running table: its queue's and group's counts, and the group's tasks
  /// left out of the window may come in.
  void attempt_left(const running_attempt& r);
  /// Reads the next tasks of a group that frees a slot into its queue's window.
  void read_group(queue_slot& q, const std::string& group);
  /// errc::invalid_task for a task that names a queue nobody declared.
  caf::error check_queues(const std::vector<task>& tasks) const;
  queue_info queue_info_of(queue_slot& q, int64_t pending, int64_t now);
  /// Arms a dispatch for when a queue held back by its rate may start again.
  void arm_rate_timer();
  void arm_clock_check();
  /// Takes a place for upload `upload_id` in the share of the client process asking (fleetd's own
  /// askers have none to take); limit_exceeded when its share or fleetd's is full.
  caf::error claim_upload_place(const std::string& upload_id, int64_t now);
  /// The wall clock as the options give it (tests), or the system's.
  int64_t read_wall_clock() const;
  /// The wall clock read `from + by_ms` where the manager expected `from`: its clock follows, what
  /// it measures in memory keeps its durations, and the step is recorded.
  void follow_clock_step(int64_t from, int64_t by_ms);
  /// The bookkeeping every attempt starts with: its record, the queued (or held) start, the
  /// node's count.
  running_attempt begin_attempt(const runnable_task& next, const std::string& node);
  /// Queues the start of `r` for the next group commit.
  void queue_start(const running_attempt& r);
  /// Queues the end of `r`, which has left the table, after its start if that was held (both go
  /// in one group).
  void queue_end(const running_attempt& r, attempt_ended end);
  /// The start of `r`, which has left the table, if it was still held (it counts as held no more).
  std::optional<attempt_started> take_held_start(const running_attempt& r);
  /// Queues the held starts that are due (`all`: every one, for a stop) and arms the timer for
  /// the next; true if it queued any.
  bool release_held_starts(bool all);
  void start_attempt(runnable_task next, const std::string& node);
  /// Reads the results of the tasks `next` runs after into its spec; the outcome its attempt
  /// fails with if it cannot be given them (too big, or not read).
  std::optional<task_outcome> give_dependency_results(runnable_task& next, const std::string& node);
  /// The worker of a shared type (worker_registry::add_shared): the one that runs, or one asked
  /// of the hooks and monitored, which runs every attempt of the type until it exits.
  caf::expected<worker_actor> shared_worker(const attempt_info& info, const task& t);
  /// A shared worker exited: every attempt it held fails (worker_failed). False if `who` is none.
  bool on_shared_worker_down(const caf::down_msg& msg);
  /// Runs the attempt on a fleet-node rather than a local worker: it goes into the node's
  /// outbox, which dispatch sends once it started what it could (or once the outbox is full).
  void start_remote_attempt(const runnable_task& next, const std::string& node);
  /// Sends each node the attempts waiting in its outbox, one message per node.
  void send_node_outboxes();
  void send_node_outbox(const std::string& node, message_batch<node_attempt>& outbox);
  /// Bookkeeping for an attempt that left the table; `stop` also stops its worker, wherever it runs.
  void release(const running_attempt& r, bool stop);
  /// Forgets a node; its running attempts are recorded as interrupted and run again.
  void drop_node(std::string name, const std::string& reason); // by value: it may live in nodes_
  void schedule_node_tick();
  /// At start: the attempts recovery held for their nodes run on in the table until the nodes
  /// rejoin (join_node) or node_rejoin_ms passes (on_rejoin_deadline).
  void hold_for_rejoin(const std::vector<held_attempt>& held);
  /// A node joins: which of its attempts in the table it still has (`a.running`, kept and counted
  /// on it; `a.finished`, ended with its outcome); the others are lost. The welcome's `kept`.
  std::vector<std::string> reconcile(const node_announcement& a, int64_t now);
  /// Records the attempts `lost` (taken from the table) as lost with their node, for `reason`.
  void lose_attempts(const std::vector<running_attempt>& lost, int64_t now, const std::string& reason);
  /// What submit accepts: a type of fleetd's registry (data checked) or one a node runs.
  task_type_check type_check() const;
  /// `stop_worker`: stop the worker even after a success (it reported through the coordinator
  /// and may still be running).
  void on_outcome(int64_t seq, int32_t attempt, caf::expected<task_outcome> outcome, bool stop_worker = false);
  /// on_outcome without the dispatch after it: the attempt's end queued, its slot freed.
  void end_attempt(int64_t seq, int32_t attempt, caf::expected<task_outcome> outcome, bool stop_worker = false);
  /// The end of an attempt lost with its node, counted as a failure for good if it was lost too often.
  attempt_ended lost_attempt(const running_attempt& r, int64_t now, std::string reason);
  void schedule_wakeup(int64_t due_ms);
  /// After a group that promoted due retries and delayed tasks committed: refresh the window, set
  /// the next wake-up.
  void after_promotion(const fleet_store::promotion& promoted);
  /// A wake-up for the earliest retry or delayed task, if any waits.
  void wake_for_next_due();
  void schedule_tick();
  /// shutting_down while a drain is on, storage_unavailable while the database takes no writes:
  /// submits and uploads are refused.
  caf::error refuse_new_work() const;
  /// The answer to a submit or seal once its write committed: the new batch `id`, or the batch
  /// that already had the key.
  /// `tasks`: what was stored, taken into the windows (none: every window is read again).
  void after_submit(caf::typed_response_promise<std::string> rp, caf::expected<stored_batch> stored,
                    const std::string& id, const std::string& key, const std::string& what,
                    std::shared_ptr<std::vector<task>> tasks = nullptr, int64_t now = 0,
                    uint64_t window_reads_at_post = 0);
  /// Tells the subscribers of a finished batch.
  void notify_finished(const batch_status& st);
  void publish_subscription_gauges();
  void log_milestones(const std::vector<fleet_store::batch_milestone>& milestones);
  void finish_drain(int32_t interrupted);

  self_pointer self_ = nullptr;
  fleet_manager_options opts_;
  fleet_config cfg_;
  std::shared_ptr<fleet_store> store_;        ///< until the writer owns it (init)
  std::unique_ptr<store_reader> reader_;      ///< queries and the runnable window (read-only)
  std::unique_ptr<write_pipeline> writer_;
  requesters requesters_;                     ///< the remote nodes that asked for changes
  std::string requester_;                     ///< of the change being handled (JSON), else empty
  struct posted_job {
    continuation then;
    write_pipeline::kind kind;
  };
  std::deque<posted_job> continuations_;      ///< one per posted job, in order
  bool flush_wanted_ = false;                 ///< a flush came while a group was in flight
  /// A job failed in a way that holds back the jobs posted behind it (write_pipeline::holds_back):
  /// the writer refuses them too, and no group goes to it until each of them is back (their
  /// changes queued again, in order).
  bool writes_refused_ = false;
  int64_t idle_since_ms_ = 0;                 ///< since when no task waited (autoscaling)
  bool stopping_ = false;                     ///< the state is being destroyed
  storage_health storage_; ///< whether the database takes writes
  coordinator_actor coordinator_;
  std::mt19937_64 rng_;
  int64_t epoch_ms_ = 0;
  int64_t clock_steps_ms_ = 0; ///< the wall clock's steps since the start, which now_ms() follows
  int64_t clock_since_ms_ = 0; ///< when the clock now_ms() follows began: the start or the last step
  int64_t run_id_ = 0;         ///< this run's row in fleetd_runs; 0: not recorded
  caf::actor_clock::time_point clock_origin_;
  uint64_t worker_seq_ = 0;

  group_commit commits_{0};
  /// Batches whose cancel is not committed yet: their tasks still read as pending.
  std::unordered_multiset<std::string> cancelling_; ///< batches with a cancel being written (once per cancel)
  one_shot_timer flush_timer_;
  one_shot_timer flush_retry_timer_; ///< after a failed write: one flush a second later

  queue_scheduler queues_;
  one_shot_timer rate_timer_;
  one_shot_timer clock_timer_;
  bool dispatching_ = false;
  /// Reads of the runnable index into a window so far: a submit notes it when it posts its
  /// write, and tells from it whether a read may have met its tasks before its commit was seen.
  uint64_t window_reads_ = 0;
  /// Attempts placed on a node during one dispatch, sent together when it ends.
  std::map<std::string, message_batch<node_attempt>> node_outboxes_;
  attempt_table attempts_;
  /// The running worker of each shared type, by type.
  std::map<std::string, worker_actor> shared_workers_;
  caf::optional<int64_t> wakeup_at_;
  void start_prune();
  void prune_next();
  void reclaim_next();
  void finish_prune(caf::error err);
  /// Writes the batch's archive on the archiver, then goes on pruning.
  void archive_next(const std::string& batch_id, int64_t finished_at);
  caf::actor archiver_;                       ///< writes archives (fleet.archive-dir), if set
  std::pair<std::string, int64_t> archived_;  ///< the batch (and finish time) whose archive is written
  bool pruning_ = false;
  prune_report prune_pass_;
  std::chrono::steady_clock::time_point prune_started_;
  std::vector<caf::typed_response_promise<prune_report>> prune_waiters_;
  /// Who asked for the running pass (JSON, as requester_), empty for a pass retention's timer
  /// started: the steps run after that message, and their events name the asker.
  std::string prune_requester_;

  /// A schedule as the manager keeps it: the stored row, its template and timing, its next slot.
  struct live_schedule {
    schedule_row row;
    std::vector<task> tasks;
    std::optional<schedule_timing> timing; ///< none if it can no longer be read (logged)
    std::optional<int64_t> next;           ///< its next slot; none while paused
    bool firing = false;                   ///< a firing is being written
  };
  /// Adds the config file's schedules and updates changed ones (one transaction), then loads all.
  caf::error load_schedules(int64_t now);
  void keep_schedule(schedule_row row);
  void fire_due(live_schedule& s, int64_t now);
  /// One tick for the earliest slot (at least once a minute), not before `not_before`.
  void arm_schedule_timer(int64_t not_before = 0);
  /// The tasks of a firing, checked as a submit's; or why they cannot be submitted now.
  caf::expected<std::vector<task>> firing_tasks(const live_schedule& s) const;
  schedule_info info_of_live(const schedule_row& row, const std::string& batch_state, bool with_template) const;
  /// The state of the last batch a schedule made, for its info; empty if none (or pruned).
  std::string last_batch_state(const schedule_row& row) const;
  std::map<std::string, live_schedule> schedules_;
  caf::optional<int64_t> schedule_tick_at_;
  one_shot_timer tick_timer_; ///< the timeout sweep
  /// Attempts on fleet-nodes whose starts are held (running_attempt::start_held), in start order:
  /// each is queued at its spawned_at + node_start_delay_ms unless its end came first.
  std::deque<std::pair<int64_t, int32_t>> held_starts_;
  size_t starts_held_ = 0; ///< running attempts with start_held (held_starts_ keeps ended ones until due)
  one_shot_timer held_starts_timer_;
  one_shot_timer progress_timer_; ///< the next store of reported progress
  std::set<std::pair<int64_t, int32_t>> unsaved_progress_; ///< attempts that reported since
  /// The shortest timeout among the attempts started since none ran (a task's own may be shorter
  /// than the fleet's): the sweep runs often enough for it.
  int64_t shortest_timeout_ms_ = std::numeric_limits<int64_t>::max();

  /// Completion notifications, by the subscribing actor's address (a down message names it).
  subscription_book<caf::actor_addr, caf::actor, caf::node_id> subscriptions_;
  /// Uploads open per client process: 16 each, 4096 in all, a place freed after 10 min without a chunk.
  upload_quota<caf::node_id> upload_quota_{16, 4096, 10 * 60 * 1000};
  node_membership<node_actor> nodes_{{}, -1}; ///< fleetd itself and the fleet-nodes
  one_shot_timer node_tick_timer_;            ///< heartbeats to the nodes
  /// Nodes that ran attempts held at this start and have not rejoined yet; their time ends then.
  std::set<std::string> rejoining_;
  drain_state drain_;
  bool fleet_paused_ = false; ///< no new attempts (stored: survives restarts)
  caf::typed_response_promise<int32_t> drain_promise_; ///< while drain_.waiting()
};

/// Writes batch archives (fleet.archive-dir) on a connection of its own: `archive_atom, batch id,
/// finished_at` -> the file, its tasks and bytes.
caf::behavior archiver(caf::event_based_actor* self, archive_fn archive);

/// The permanent fleet manager. Quits with an error if the store cannot be read at start.
fleet_manager_actor::behavior_type
fleet_manager(fleet_manager_state::self_pointer self, fleet_manager_options opts);

/// Spawns the manager on the scheduler's threads, or with `detached` on a thread of its own. The
/// manager trades a message with a worker actor for every attempt: on the scheduler's threads that
/// hand-off needs no wake-up of another thread, and no-op tasks ran 1.2-1.35x as fast
/// (docs/BENCHMARKS.md, 2026-12-06). Its blocking work is short (reads of committed state); the
/// writes have their own thread.
fleet_manager_actor spawn_fleet_manager(caf::actor_system& sys, fleet_manager_options opts,
                                        bool detached = false);

} // namespace fleet
