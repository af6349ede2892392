// Submitting a task file (in one message or as an upload, with --delay/--at) and waiting for a
// batch (a progress line, reconnecting while fleetd restarts).

#include "session.hpp"

#include "render.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/json_text.hpp"
#include "fleet/task_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <thread>
#include <unistd.h>

using fleet::error_text;

namespace fleetctl {

int print_status(const fleet::batch_status& st, bool json) {
  if (json) {
    print_json(fleet::to_json(st));
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows{{"batch", st.batch_id},
                                             {"status", to_string(st.status) + (st.paused ? " (paused)" : "")},
                                             {"total", std::to_string(st.total)},
                                             {"completed", std::to_string(st.completed)},
                                             {"failed", std::to_string(st.failed)},
                                             {"cancelled", std::to_string(st.cancelled)},
                                             {"progress", fmt::format("{:.1f}%", st.progress * 100)},
                                             {"created", format_time(st.created_at)},
                                             {"started", format_time(st.started_at)},
                                             {"finished", format_time(st.finished_at)}};
  if (!st.key.empty())
    rows.push_back({"key", st.key});
  if (st.scheduled > 0) {
    rows.push_back({"scheduled", fmt::format("{} (waiting for their start time)", st.scheduled)});
    rows.push_back({"next_due", format_time(st.next_run_at)});
  }
  if (st.blocked > 0)
    rows.push_back({"blocked", fmt::format("{} (waiting for the tasks they run after)", st.blocked)});
  print_table({"FIELD", "VALUE"}, rows);
  return exit_ok;
}

namespace {

/// Tasks per message when submitting.
constexpr size_t submit_chunk = 10'000;


int exit_for(const fleet::batch_status& st) {
  return st.status == fleet::batch_state::completed ? exit_ok : exit_batch_failed;
}

int wait_for(session& s, const std::string& batch_id) {
  const bool tty = isatty(STDOUT_FILENO) != 0 && !s.inv.json;
  std::string last;
  auto reconnect_deadline = std::chrono::steady_clock::time_point::max();
  bool subscribed = false;
  for (;;) {
    // fleetd tells when the batch finishes; the status polls only draw the progress.
    if (!subscribed)
      subscribed = static_cast<bool>(s.client->subscribe(batch_id));
    auto st = s.client->batch_status(batch_id);
    if (!st) {
      // fleetd restarting (a deploy, a crash) is not the batch's failure: reconnect for a while.
      if (st.error() != fleet::errc::unreachable)
        return error(error_text(st.error()));
      auto now = std::chrono::steady_clock::now();
      if (reconnect_deadline == std::chrono::steady_clock::time_point::max())
        reconnect_deadline = now + std::chrono::milliseconds(s.inv.timeout_ms);
      if (now > reconnect_deadline)
        return error(error_text(st.error()));
      std::this_thread::sleep_for(std::chrono::milliseconds(s.inv.poll_ms));
      (void)s.connect(); // failure shows up as the next status error
      subscribed = false;
      continue;
    }
    reconnect_deadline = std::chrono::steady_clock::time_point::max();
    auto line = s.inv.json ? fleet::dump_json(fleet::to_json(*st)) : progress_line(*st);
    if (line != last) {
      if (tty)
        fmt::print("\r{}\x1b[K", line);
      else
        fmt::print("{}\n", line);
      std::fflush(stdout);
      last = line;
    }
    if (st->finished_at != 0) {
      if (tty)
        fmt::print("\n");
      return exit_for(*st);
    }
    if (!subscribed) {
      std::this_thread::sleep_for(std::chrono::milliseconds(s.inv.poll_ms));
      continue;
    }
    // Progress changes are drawn every poll; the end comes as a notification at once.
    if (auto done = s.client->next_notification(std::chrono::milliseconds(tty ? s.inv.poll_ms : 1000))) {
      auto line_done = s.inv.json ? fleet::dump_json(fleet::to_json(*done)) : progress_line(*done);
      if (tty)
        fmt::print("\r{}\x1b[K\n", line_done);
      else if (line_done != last)
        fmt::print("{}\n", line_done);
      return exit_for(*done);
    }
  }
}

/// Sends what `first` and the rest of `stream` hold: one message if it fits, else an upload in
/// chunks read as they are sent, so that a huge file is never in memory at once.
caf::expected<std::string> send_tasks(session& s, std::vector<fleet::task> first, fleet::task_stream& stream) {
  // --delay, --at and the policy flags: for the tasks that do not name a start time (or that
  // policy field) of their own.
  auto start_times = [&](std::vector<fleet::task>& tasks) {
    for (auto& t : tasks) {
      if (t.run_at == 0 && t.delay_ms == 0) {
        t.run_at = s.inv.run_at;
        t.delay_ms = s.inv.delay_ms;
      }
      fleet::fill_policy(t.policy, s.inv.policy);
      if (t.queue.empty())
        t.queue = s.inv.queue;
      if (t.group.empty())
        t.group = s.inv.group;
    }
  };
  start_times(first);
  if (stream.done())
    return s.client->submit_batch(s.inv.key, std::move(first), 0);
  auto upload = s.client->open_upload();
  if (!upload)
    return upload.error();
  auto chunk = std::move(first);
  for (;;) {
    if (!chunk.empty())
      if (auto err = upload->add(std::move(chunk)))
        return err;
    if (stream.done())
      break;
    auto next = stream.next(submit_chunk);
    if (!next)
      return next.error(); // the upload is never sealed: nothing of it becomes visible
    chunk = std::move(*next);
    start_times(chunk);
  }
  return upload->seal(s.inv.key);
}

int cmd_submit(session& s, std::vector<fleet::task> first, fleet::task_stream& stream) {
  auto id = send_tasks(s, std::move(first), stream);
  if (!id)
    return error(error_text(id.error()));
  if (s.inv.json)
    print_json({{"batch_id", *id}});
  else
    fmt::print("{}\n", *id);
  std::fflush(stdout);
  return s.inv.wait ? wait_for(s, *id) : exit_ok;
}

} // namespace

int cmd_submit_file(session& s) {
  // The file is read with fleetd's limits, so that what it would refuse is refused here, before
  // anything is sent (for a file bigger than one chunk: as far as its first chunk; a later error
  // abandons the upload, and nothing of it becomes visible).
  auto limits = s.client->limits();
  if (!limits)
    return error(error_text(limits.error()));
  const auto& name = s.inv.args[0];
  fleet::task_stream stream{*s.input, name == "-" ? "stdin" : name, *limits};
  auto first_chunk = stream.next(submit_chunk);
  if (!first_chunk)
    return error(error_text(first_chunk.error()));
  return cmd_submit(s, std::move(*first_chunk), stream);
}

int cmd_wait(session& s) {
  return wait_for(s, s.inv.args[0]);
}

} // namespace fleetctl
