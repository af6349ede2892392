#include "commands.hpp"

#include "render.hpp"
#include "session.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/json_text.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/text.hpp"
#include "fleet/validation.hpp"

#include <caf/actor_system_config.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

using fleet::error_text;

namespace fleetctl {

namespace {

/// Prints a paged listing as it arrives (a million rows never sit in memory at once): one table,
/// or one JSON array.
template <class Fetch, class ToRow>
int print_pages(session& s, const std::vector<std::string>& header, Fetch fetch, ToRow to_row) {
  constexpr int32_t page_size = 1000;
  int64_t cursor = 0;
  bool first = true;
  if (s.inv.json)
    fmt::print("[");
  for (;;) {
    auto page = fetch(cursor, page_size);
    if (!page) {
      if (s.inv.json)
        fmt::print("]\n");
      return error(error_text(page.error()));
    }
    if (s.inv.json) {
      for (const auto& x : page->items) {
        fmt::print("{}{}", first ? "" : ",", fleet::to_json_text(x));
        first = false;
      }
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& x : page->items)
        rows.push_back(to_row(x));
      if (first || !rows.empty())
        print_table(first ? header : std::vector<std::string>{}, rows);
      first = false;
    }
    cursor = page->next_cursor;
    if (page->done)
      break;
  }
  if (s.inv.json)
    fmt::print("]\n");
  return exit_ok;
}

int cmd_results(session& s) {
  const auto& id = s.inv.args[0];
  return print_pages(
    s, {"TASK", "RESULT", "ATTEMPTS", "DURATION", "OUTPUT"},
    [&](int64_t cursor, int32_t limit) { return s.client->batch_results(id, cursor, limit); },
    [](const fleet::task_result& r) -> std::vector<std::string> {
      return {r.task_id, r.success ? "ok" : "FAILED", std::to_string(r.attempts), format_duration(r.duration_ms),
              compact(r.success ? r.result : r.error)};
    });
}

int cmd_failed(session& s) {
  auto batch = s.inv.args.empty() ? std::string{} : s.inv.args[0];
  return print_pages(
    s, {"BATCH", "TASK", "TYPE", "ATTEMPTS", "FAILED", "ERROR"},
    [&](int64_t cursor, int32_t limit) { return s.client->dead_letters(batch, cursor, limit); },
    [](const fleet::dead_letter& d) -> std::vector<std::string> {
      return {d.batch_id, d.task_id, d.type, std::to_string(d.attempts), format_time(d.failed_at), compact(d.error)};
    });
}

int cmd_replay(session& s) {
  auto n = s.client->replay(s.inv.batch, s.inv.args);
  if (!n)
    return error(error_text(n.error()));
  if (s.inv.json)
    print_json({{"batch_id", s.inv.batch}, {"replayed", *n}});
  else
    fmt::print("{} failed tasks of {} replayed\n", *n, fleet::printable(s.inv.batch));
  return exit_ok;
}

int cmd_cancel(session& s) {
  const auto& id = s.inv.args[0];
  if (s.inv.args.size() > 1) {
    std::vector<std::string> task_ids{s.inv.args.begin() + 1, s.inv.args.end()};
    auto named = task_ids.size();
    auto n = s.client->cancel_tasks(id, std::move(task_ids));
    if (!n)
      return error(error_text(n.error()));
    if (s.inv.json)
      print_json({{"batch_id", id}, {"cancelled", *n}});
    else
      fmt::print("{} of {} tasks of batch {} cancelled\n", *n, named, fleet::printable(id));
    return *n > 0 ? exit_ok : exit_batch_failed;
  }
  auto ok = s.client->cancel_batch(id);
  if (!ok)
    return error(error_text(ok.error()));
  if (*ok) {
    if (s.inv.json)
      print_json({{"batch_id", id}, {"cancelled", true}});
    else
      fmt::print("batch {} cancelled\n", fleet::printable(id));
    return exit_ok;
  }
  // false means unknown or already finished: tell them apart.
  auto st = s.client->batch_status(id);
  if (!st)
    return error(error_text(st.error()));
  if (s.inv.json)
    print_json({{"batch_id", id}, {"cancelled", false}, {"status", to_string(st->status)}});
  else
    fmt::print(stderr, "fleetctl: batch {} already finished ({}): nothing to cancel\n", fleet::printable(id),
               to_string(st->status));
  return exit_batch_failed;
}

int print_config(const fleet::fleet_config& cfg, bool json) {
  if (json) {
    print_json(fleet::to_json(cfg));
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& field : fleet::config_fields()) {
    auto value = fleet::get_field(cfg, field.name);
    rows.push_back({field.option, field.name, value ? fleet::to_string(*value) : "?"});
  }
  print_table({"OPTION", "FIELD", "VALUE"}, rows);
  return exit_ok;
}

/// `config set NAME=VALUE...` as an update; checked before fleetd is asked.
caf::expected<fleet::config_update> parse_config_set(const std::vector<std::string>& args) {
  fleet::config_update update;
  for (size_t i = 1; i < args.size(); ++i)
    if (auto err = fleet::set_field_from_text(update, args[i]))
      return err;
  return update;
}

int cmd_config(session& s) {
  const auto& update = s.update;
  if (s.inv.args.empty()) {
    auto cfg = s.client->get_config();
    if (!cfg)
      return error(error_text(cfg.error()));
    return print_config(*cfg, s.inv.json);
  }
  auto cfg = s.inv.args[0] == "reset"
               ? s.client->reset_config({s.inv.args.begin() + 1, s.inv.args.end()})
               : s.client->update_config(update);
  if (!cfg)
    return error(error_text(cfg.error()));
  return print_config(*cfg, s.inv.json);
}

int cmd_prune(session& s) {
  auto report = s.client->prune();
  if (!report)
    return error(error_text(report.error()));
  if (s.inv.json) {
    print_json({{"batches", report->batches},
                {"tasks", report->tasks},
                {"events", report->events},
                {"bytes_freed", report->bytes_freed},
                {"ms", report->ms}});
    return exit_ok;
  }
  print_table({"PRUNED", "COUNT"}, {{"batches", std::to_string(report->batches)},
                                    {"tasks", std::to_string(report->tasks)},
                                    {"events", std::to_string(report->events)},
                                    {"bytes_freed", std::to_string(report->bytes_freed)},
                                    {"took", format_duration(report->ms)}});
  return exit_ok;
}

int cmd_stats(session& s) {
  auto st = s.client->stats();
  if (!st)
    return error(error_text(st.error()));
  auto summary = s.client->summary();
  if (!summary)
    return error(error_text(summary.error()));
  if (s.inv.json) {
    auto out = fleet::to_json(*st);
    out["summary"] = fleet::to_json(*summary);
    print_json(out);
    return exit_ok;
  }
  print_table({"FIGURE", "VALUE"},
              {{"total_batches", std::to_string(st->total_batches)},
               {"total_tasks", std::to_string(st->total_tasks)},
               {"completed_tasks", std::to_string(st->completed_tasks)},
               {"failed_tasks", std::to_string(st->failed_tasks)},
               {"cancelled_tasks", std::to_string(st->cancelled_tasks)},
               {"pending_tasks", std::to_string(st->pending_tasks)},
               {"scheduled_tasks", std::to_string(st->scheduled_tasks)},
               {"running_tasks", std::to_string(st->running_tasks)},
               {"retries", std::to_string(st->retries)},
               {"active_workers", fmt::format("{} of {}", st->active_workers, st->max_concurrent_workers)},
               {"paused", st->paused ? "yes (fleetctl resume)" : "no"},
               {"success_rate", fmt::format("{:.1f}%", summary->success_rate * 100)},
               {"average_duration", format_duration(static_cast<int64_t>(summary->average_duration_ms))}});
  return exit_ok;
}

/// Prints a list fetched whole: a table, or its JSON array.
template <class T, class ToRow>
int print_list(session& s, const caf::expected<std::vector<T>>& xs, const std::vector<std::string>& header,
               ToRow to_row) {
  if (!xs)
    return error(error_text(xs.error()));
  if (s.inv.json) {
    print_json(fleet::to_json(*xs));
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& x : *xs)
    rows.push_back(to_row(x));
  print_table(header, rows);
  return exit_ok;
}

int cmd_workers(session& s) {
  return print_list(s, s.client->active_workers(),
                    {"WORKER", "TASK", "BATCH", "ATTEMPT", "STATUS", "NODE", "SPAWNED", "COMPLETED", "PROGRESS"},
                    [](const fleet::worker_info& w) -> std::vector<std::string> {
                      auto progress = w.progress < 0 ? std::string{"-"}
                                                     : fmt::format("{:.0f}%{}{}", w.progress * 100,
                                                                   w.note.empty() ? "" : " ", w.note);
                      return {w.worker_id, w.task_id, w.batch_id, std::to_string(w.attempt), to_string(w.status),
                              w.node, format_time(w.spawned_at), format_time(w.completed_at), progress};
                    });
}

int cmd_nodes(session& s) {
  return print_list(s, s.client->nodes(), {"NODE", "TYPES", "CAPACITY", "RUNNING", "STATE", "JOINED", "LAST HEARTBEAT"},
                    [](const fleet::node_info& n) -> std::vector<std::string> {
                      return {n.name, fmt::format("{}", fmt::join(n.types, ",")),
                              n.capacity < 0 ? "max-workers" : std::to_string(n.capacity),
                              std::to_string(n.running), n.draining ? "draining" : "serving",
                              format_time(n.joined_at), format_time(n.last_heartbeat)};
                    });
}

caf::expected<int32_t> parse_worker_count(const std::string& text) {
  auto n = fleet::parse_integer(text);
  if (!n || *n < INT32_MIN || *n > INT32_MAX)
    return caf::make_error(fleet::errc::invalid_config,
                           fmt::format("scale needs a whole number of workers (got {})", fleet::quoted_input(text)));
  return static_cast<int32_t>(*n);
}

int cmd_status(session& s) {
  const auto& id = s.inv.args[0];
  auto st = s.client->batch_status(id);
  if (!st)
    return error(error_text(st.error()));
  if (!s.inv.tasks)
    return print_status(*st, s.inv.json);
  if (s.inv.json)
    fmt::print("{{\"status\":{},\"tasks\":", fleet::dump_json(fleet::to_json(*st)));
  else
    print_status(*st, false);
  auto rc = print_pages(
    s, {"TASK", "STATE", "ATTEMPTS", "PROGRESS", "NOTE", "AFTER"},
    [&](int64_t cursor, int32_t limit) { return s.client->tasks(id, cursor, limit); },
    [](const fleet::task_entry& t) -> std::vector<std::string> {
      return {t.task_id, t.state, std::to_string(t.attempts),
              t.progress < 0 ? std::string{"-"} : fmt::format("{:.0f}%", t.progress * 100), compact(t.note),
              compact(fmt::format("{}", fmt::join(t.after, " ")))};
    });
  if (s.inv.json)
    fmt::print("}}\n");
  return rc;
}

int cmd_pause_or_resume(session& s) {
  const bool pause = s.inv.command == "pause";
  auto batch = s.inv.whole_fleet ? std::string{} : s.inv.args[0];
  auto changed = s.inv.whole_fleet ? (pause ? s.client->pause_fleet() : s.client->resume_fleet())
                                   : (pause ? s.client->pause(batch) : s.client->resume(batch));
  if (!changed)
    return error(error_text(changed.error()));
  auto what = batch.empty() ? std::string{"the fleet"} : "batch " + fleet::printable(batch);
  if (s.inv.json)
    print_json({{"target", batch}, {"changed", *changed}});
  else if (*changed)
    fmt::print("{} {}\n", what, pause ? "paused" : "resumed");
  else
    fmt::print("{} was already {}\n", what, pause ? "paused" : "running");
  return exit_ok;
}

int cmd_scale(session& s) {
  auto cfg = s.client->scale_workers(s.workers);
  if (!cfg)
    return error(error_text(cfg.error()));
  if (s.inv.json)
    return print_config(*cfg, true);
  fmt::print("max_concurrent_workers = {}\n", cfg->max_concurrent_workers);
  return exit_ok;
}

struct command_spec {
  const char* name;
  const char* synopsis;
  const char* summary; ///< one line that ends, for `fleetctl --help`
  const char* help;    ///< the rest, for `fleetctl COMMAND --help`
  size_t min_args;
  size_t max_args;     ///< SIZE_MAX: any
  int (*run)(session&);
};

const std::vector<command_spec>& commands() {
  static const std::vector<command_spec> specs{
    {"submit", "submit [--wait] [--key KEY] [--delay DURATION | --at TIME] [--task-timeout DURATION]\n"
               "       [--max-retries N] [--backoff DURATION] [--no-retry] [--queue Q] [--group G] FILE|-",
     "Submits the tasks of FILE (or stdin) as one batch.",
     "Reads tasks from FILE (or stdin for -) as a JSON array or JSON Lines, one object per task:\n"
     "  {\"id\": \"t1\", \"type\": \"echo\", \"data\": {...}, \"priority\": 0}\n"
     "type is required; id defaults to task-N, data to {}, priority to 0. Prints the batch id.\n"
     "A task may wait before it starts: \"run_at\" (ms since the epoch, or an RFC 3339 time such\n"
     "as \"2026-12-24T18:00:00Z\") or \"delay_ms\". --delay 10m (units ms, s, m, h, d, w) or\n"
     "--at TIME gives that to every task that names no time of its own.\n"
     "A task may run under its own policy instead of the fleet's configuration: \"timeout_ms\",\n"
     "\"max_retries\", \"backoff_ms\" (the first retry's backoff) and \"retry\" (false: never\n"
     "retried). --task-timeout, --max-retries, --backoff and --no-retry give them to every task\n"
     "that does not set that field itself.\n"
     "A task runs in its \"queue\" (default: default; `fleetctl queues`) and may name a \"group\"\n"
     "(a tenant) whose attempts the queue's group-max-workers bounds; --queue and --group give\n"
     "them to every task that names none.\n"
     "--wait then waits like `wait` and exits like it. --key makes the submit idempotent: the\n"
     "first submit with KEY stores the batch, any later one prints that batch's id and stores\n"
     "nothing (also after restarts), so a submit whose answer was lost can simply be repeated.",
     1, 1, cmd_submit_file},
    {"status", "status BATCH [--tasks]", "Shows a batch's status, counts and progress.",
     "--tasks also lists each task: its state, attempts, the latest progress its attempt reported\n"
     "(stored about once a second) with the note, and the tasks it runs after.",
     1, 1, cmd_status},
    {"results", "results BATCH", "Lists every finished task of a batch with its result or error.", "", 1, 1,
     cmd_results},
    {"graph", "graph BATCH [--dot]", "Draws a batch's dependency graph with each task's state.",
     "Each task under every task it runs after (\"after\"), a task met again named as (above);\n"
     "--dot writes Graphviz DOT instead (edges from a task to those that run after it).",
     1, 1, cmd_graph},
    {"wait", "wait BATCH", "Waits until the batch finishes, with a live progress bar.",
     "On a terminal the progress bar redraws in place; otherwise one line per change.\n"
     "Exit 0 if it completed, 1 if it ended failed, partial or cancelled, 2 on error.",
     1, 1, cmd_wait},
    {"cancel", "cancel BATCH [TASK...]", "Cancels a batch, or its TASKs named: waiting ones end, running stop.",
     "With TASKs only those are cancelled: the waiting ones end cancelled, running attempts are\n"
     "stopped, finished ones stay; a task the batch does not have refuses the whole request.\n"
     "Prints how many were cancelled. Exit 1 if the batch had already finished (or none of the\n"
     "TASKs could be cancelled).", 1, SIZE_MAX, cmd_cancel},
    {"failed", "failed BATCH|--all", "Lists the dead letters (tasks that failed for good).",
     "Of one batch or of all (--all), with their attempts and last error; fetched and printed\n"
     "1000 at a time. `fleetctl replay` runs them again.",
     0, 1, cmd_failed},
    {"replay", "replay --batch BATCH [TASK...]", "Runs failed tasks of a batch again.",
     "The TASKs named, or every failed one of BATCH. Each runs again with a fresh retry budget;\n"
     "its earlier attempts stay in the history. All or nothing: a task that is unknown or did\n"
     "not fail refuses the whole request. Prints how many were replayed.",
     0, SIZE_MAX, cmd_replay},
    {"pause", "pause BATCH|--fleet", "Pauses a batch, or the whole fleet: no new attempt starts.",
     "Waiting tasks stay queued, running attempts finish, no new attempt starts until `resume`.\n"
     "Survives restarts.",
     0, 1, cmd_pause_or_resume},
    {"resume", "resume BATCH|--fleet", "Resumes a paused batch, or the whole fleet.", "", 0, 1,
     cmd_pause_or_resume},
    {"scale", "scale N", "Sets max_concurrent_workers to N (at least 1), stored.",
     "The new limit survives restarts.", 1, 1, cmd_scale},
    {"stats", "stats", "Shows fleet-wide figures and the coordinator's summary.", "", 0, 0, cmd_stats},
    {"prune", "prune --now", "Runs a retention pass now and shows what it removed.",
     "fleetd prunes by itself every minute: finished batches older than fleet.retain-finished (with\n"
     "their tasks and attempts) and events older than fleet.retain-events, in small steps, then\n"
     "returns free pages to the file system. --now runs a pass at once (or joins the one running)\n"
     "and waits for it (raise --timeout for a first pass over a large backlog).",
     0, 0, cmd_prune},
    {"schedule", "schedule add|list|show|pause|resume|rm|run ...", "Manages recurring schedules.",
     "  schedule add NAME --cron \"*/5 * * * *\" [--tz Europe/Berlin] FILE|-\n"
     "  schedule add NAME --every 30s FILE|-\n"
     "      [--missed skip|once] [--no-overlap] [--replace]\n"
     "  schedule list            each schedule, its next slot, last batch and counts\n"
     "  schedule show NAME       one schedule with its template\n"
     "  schedule pause|resume|rm NAME\n"
     "  schedule run NAME        fires it now (prints the batch id)\n"
     "At each slot fleetd submits the tasks of FILE (a task file; delay_ms counts from the firing)\n"
     "as a batch with the client key schedule:NAME@SLOT, once per slot whatever crashes. A cron\n"
     "expression has 5 fields (minute hour day-of-month month day-of-week) and is read in --tz\n"
     "(an IANA zone; UTC without). --every slots are multiples of the interval since the epoch.\n"
     "Slots missed while fleetd was down: --missed skip (default) runs none, once runs the\n"
     "latest. --no-overlap skips a slot while the last firing's batch is unfinished. --replace\n"
     "redefines an existing schedule (its history stays).",
     1, 3, cmd_schedule},
    {"workers", "workers", "Lists running workers, then the most recently finished.",
     "With the node each runs on.", 0, 0, cmd_workers},
    {"nodes", "nodes", "Lists the nodes of the fleet with their types and load.",
     "fleetd's own workers (local) and each fleet-node, with its task types, capacity, running\n"
     "attempts and last heartbeat.",
     0, 0, cmd_nodes},
    {"queues", "queues", "Lists the queues with their limits, waiting and running tasks.",
     "Each queue's max-workers, rate (with the starts it allows now), weight, group-max-workers\n"
     "and state, its runnable tasks, running attempts, groups running and starts since fleetd\n"
     "started.",
     0, 0, cmd_queues},
    {"queue", "queue set NAME KEY=VALUE...", "Sets a queue's limits at runtime (making the queue).",
     "KEY is max-workers (attempts of the queue at once; 0 or none: no limit), rate (N/INTERVAL\n"
     "such as 100/1s or 5/250ms: attempt starts, a token bucket of N; none: no limit), weight\n"
     "(1-1000: its share of free workers when several queues have work), group-max-workers\n"
     "(attempts of one group at once; 0: no limit) or paused (true|false). Stored with an event;\n"
     "wins over the config file's [queue.NAME] on restart, field by field.",
     3, SIZE_MAX, cmd_queue},
    {"config", "config [set NAME=VALUE... | reset NAME...]", "Shows the configuration, or changes it at runtime.",
     "Changed fields are stored and win over the config file on restart; `reset` clears them,\n"
     "so the config file's value is in force again. NAME is the config file option\n"
     "(max-workers, worker-timeout, retry-failed-tasks, max-retries, backoff-base,\n"
     "backoff-factor, backoff-cap) or the field name (max_concurrent_workers, ...).",
     0, SIZE_MAX, cmd_config},
  };
  return specs;
}

const command_spec* find_command(const std::string& name) {
  for (const auto& c : commands())
    if (name == c.name)
      return &c;
  return nullptr;
}

} // namespace

int error(const std::string& text) {
  // One line, whatever fleetd or the input put into the text.
  fmt::print(stderr, "fleetctl: {}\n", fleet::printable(text, 4096));
  return exit_error;
}

bool is_command(const std::string& command) {
  return find_command(command) != nullptr;
}

std::string usage(const std::string& command) {
  if (auto c = find_command(command))
    return fmt::format("usage: fleetctl [--host H] [--port P] [--json] {}\n\n{}\n{}{}", c->synopsis, c->summary,
                       c->help, *c->help != '\0' ? "\n" : "");
  std::string out = "usage: fleetctl [--host H] [--port P] [--json] [--timeout MS] COMMAND [ARGS]\n\n"
                    "Drives a running fleetd (default 127.0.0.1:4242) as a CAF node.\n\nCommands:\n";
  for (const auto& c : commands())
    out += std::strlen(c.synopsis) <= 28 ? fmt::format("  {:<28} {}\n", c.synopsis, c.summary)
                                         : fmt::format("  {}\n  {:<28} {}\n", c.synopsis, "", c.summary);
  out += "\nOptions:\n"
         "  --host H       fleetd's address (default 127.0.0.1); several as H1:PORT,H2:PORT, tried\n"
         "                 in order, the first that answers (fleetd on PostgreSQL with standbys)\n"
         "  --port P       fleetd's port where --host names none (default 4242)\n"
         "  --json         machine-readable output (one JSON document; JSON Lines for wait)\n"
         "  --timeout MS   how long to wait for each answer (default 30000)\n"
         "  --tls-cert F --tls-key F --tls-ca F\n"
         "                 TLS with mutual authentication: this client's PEM certificate and key,\n"
         "                 and the CA that signed fleetd's (or FLEETCTL_TLS_CERT/_KEY/_CA)\n"
         "  --tls-server-name NAME\n"
         "                 the name fleetd's certificate must carry (default: the --host given;\n"
         "                 or FLEETCTL_TLS_SERVER_NAME)\n"
         "  --help         this text; `fleetctl COMMAND --help` for one command\n"
         "\nExit status: 0 success, 1 batch ended failed/partial/cancelled (wait, submit --wait)\n"
         "or was not cancelled, 2 error.\n";
  return out;
}

int run_command(const invocation& inv) {
  auto spec = find_command(inv.command);
  if (!spec)
    return error(fmt::format("unknown command \"{}\" (see fleetctl --help)", inv.command));
  if (inv.args.size() < spec->min_args || inv.args.size() > spec->max_args)
    return error(fmt::format("usage: fleetctl {}", spec->synopsis));
  if (inv.command == "config" && !inv.args.empty()
      && ((inv.args[0] != "set" && inv.args[0] != "reset") || inv.args.size() < 2))
    return error("usage: fleetctl config [set NAME=VALUE... | reset NAME...]");
  if (inv.wait && inv.command != "submit")
    return error("--wait belongs to submit (use `fleetctl wait BATCH`)");
  if (!inv.key.empty() && inv.command != "submit")
    return error("--key belongs to submit");
  if (inv.command == "prune" && !inv.now)
    return error("prune needs --now (fleetd prunes by itself every minute; --now runs a pass at once)");
  if (inv.now && inv.command != "prune")
    return error("--now belongs to prune");
  auto schedule_add = inv.command == "schedule" && !inv.args.empty() && inv.args[0] == "add";
  if ((!inv.cron.empty() || !inv.tz.empty() || inv.every_ms != 0 || !inv.missed.empty() || inv.no_overlap
       || inv.replace)
      && !schedule_add)
    return error("--cron, --tz, --every, --missed, --no-overlap and --replace belong to schedule add");
  if (schedule_add && inv.cron.empty() == (inv.every_ms == 0))
    return error("schedule add needs --cron EXPR or --every DURATION (one of them)");
  if (inv.dot && inv.command != "graph")
    return error("--dot belongs to graph");
  if (inv.tasks && inv.command != "status")
    return error("--tasks belongs to status");
  if ((inv.delay_ms != 0 || inv.run_at != 0 || !inv.policy.empty() || !inv.queue.empty() || !inv.group.empty())
      && inv.command != "submit")
    return error("--delay, --at, --task-timeout, --max-retries, --backoff, --no-retry, --queue and --group belong to "
                 "submit");
  if (auto problem = fleet::policy_problem(inv.policy); !problem.empty())
    return error(fmt::format("{} (from --max-retries and --no-retry)", problem));
  if (inv.delay_ms != 0 && inv.run_at != 0)
    return error("give --delay or --at, not both");
  if (!inv.batch.empty() && inv.command != "replay")
    return error("--batch belongs to replay");
  if (inv.command == "replay" && inv.batch.empty())
    return error("replay needs --batch BATCH (task ids are unique only within their batch)");
  // The fleet-wide forms are asked for by name: `pause "$BATCH"` with an unset variable must not
  // pause everything.
  auto fleet_wide = inv.command == "pause" || inv.command == "resume" || inv.command == "failed";
  if (inv.whole_fleet && !fleet_wide)
    return error("--fleet (--all) belongs to pause, resume and failed");
  if (fleet_wide && inv.whole_fleet && !inv.args.empty())
    return error(fmt::format("{} takes a batch or --fleet (--all), not both", inv.command));
  if (fleet_wide && !inv.whole_fleet && (inv.args.empty() || inv.args[0].empty()))
    return error(fmt::format("{} needs a batch id; for every batch say so with --fleet (or --all)", inv.command));
  std::ifstream file;
  std::istream* input = &std::cin;
  if (inv.command == "submit" && inv.args[0] != "-") {
    file.open(inv.args[0], std::ios::binary);
    if (!file)
      return error(fmt::format("cannot read {}", inv.args[0]));
    input = &file;
  }
  caf::expected<int32_t> workers{0};
  if (inv.command == "scale") {
    workers = parse_worker_count(inv.args[0]);
    if (!workers)
      return error(error_text(workers.error()));
  }
  auto update = parse_config_set(inv.command == "config" && !inv.args.empty() && inv.args[0] == "set"
                                   ? inv.args
                                   : std::vector<std::string>{});
  if (!update)
    return error(error_text(update.error()));
  if (auto err = fleet::check_tls_files(inv.tls, "--tls-"))
    return error(error_text(err));
  caf::actor_system_config cfg;
  fleet::configure_client(cfg);
  fleet::run_client_on_one_thread(cfg);
  if (inv.tls.any())
    if (auto err = fleet::enable_tls(cfg, inv.tls))
      return error(error_text(err));
  caf::actor_system sys{cfg};
  session s{sys, inv, {}, input, *workers, *update};
  if (auto err = s.connect())
    return error(error_text(err));
  return spec->run(s);
}

} // namespace fleetctl
