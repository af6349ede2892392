// `fleetctl schedule add|list|pause|resume|rm|run`: recurring schedules.

#include "session.hpp"

#include "render.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/task_file.hpp"
#include "fleet/text.hpp"
#include "fleet/time_text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

namespace fleetctl {

using fleet::error_text;

namespace {

std::string timing_text(const fleet::schedule_spec& spec) {
  if (spec.every_ms != 0)
    return "every " + fleet::format_duration_ms(spec.every_ms);
  return spec.time_zone.empty() ? spec.cron : fmt::format("{} ({})", spec.cron, spec.time_zone);
}

int print_schedules(const std::vector<fleet::schedule_info>& xs, bool json) {
  if (json) {
    print_json(fleet::to_json(xs));
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& x : xs)
    rows.push_back({x.spec.name, timing_text(x.spec), x.paused ? "paused" : format_time(x.next_run_at),
                    x.last_batch_id.empty() ? "-" : x.last_batch_id,
                    x.last_batch_state.empty() ? "-" : x.last_batch_state, std::to_string(x.fired),
                    std::to_string(x.skipped), std::to_string(x.missed)});
  if (rows.empty()) {
    fmt::print("no schedules\n");
    return exit_ok;
  }
  print_table({"NAME", "TIMING", "NEXT", "LAST BATCH", "STATE", "FIRED", "SKIPPED", "MISSED"}, rows);
  return exit_ok;
}

caf::expected<std::vector<fleet::task>> read_template(const std::string& file) {
  std::ostringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in{file, std::ios::binary};
    if (!in)
      return caf::make_error(fleet::errc::invalid_argument, fmt::format("cannot read {}", file));
    text << in.rdbuf();
  }
  return fleet::parse_task_file(text.str(), file == "-" ? "stdin" : file);
}

int add(session& s) {
  const auto& inv = s.inv;
  if (inv.args.size() != 3)
    return error("usage: fleetctl schedule add NAME (--cron EXPR [--tz ZONE] | --every DURATION) FILE|-");
  fleet::schedule_spec spec;
  spec.name = inv.args[1];
  spec.cron = inv.cron;
  spec.time_zone = inv.tz;
  spec.every_ms = inv.every_ms;
  spec.missed = inv.missed.empty() ? "skip" : inv.missed;
  spec.overlap = !inv.no_overlap;
  auto tasks = read_template(inv.args[2]);
  if (!tasks)
    return error(error_text(tasks.error()));
  spec.tasks = std::move(*tasks);
  auto added = s.client->add_schedule(spec, inv.replace);
  if (!added)
    return error(error_text(added.error()));
  if (inv.json) {
    print_json(fleet::to_json(*added));
    return exit_ok;
  }
  fmt::print("schedule {} ({}, {} tasks): next {}\n", added->spec.name, timing_text(added->spec),
             added->spec.tasks.size(), added->paused ? "paused" : format_time(added->next_run_at));
  return exit_ok;
}

} // namespace

int cmd_schedule(session& s) {
  const auto& inv = s.inv;
  const auto& what = inv.args[0];
  if (what == "add")
    return add(s);
  if (what == "list" || what == "ls") {
    if (inv.args.size() != 1)
      return error("usage: fleetctl schedule list");
    auto xs = s.client->schedules();
    return xs ? print_schedules(*xs, inv.json) : error(error_text(xs.error()));
  }
  if (inv.args.size() != 2)
    return error(fmt::format("usage: fleetctl schedule {} NAME", fleet::printable(what, 40)));
  const auto& name = inv.args[1];
  if (what == "show") {
    auto x = s.client->schedule(name);
    if (!x)
      return error(error_text(x.error()));
    if (inv.json) {
      print_json(fleet::to_json(*x));
      return exit_ok;
    }
    print_table({}, {{"name", x->spec.name},
                     {"timing", timing_text(x->spec)},
                     {"missed", x->spec.missed},
                     {"overlap", x->spec.overlap ? "true" : "false"},
                     {"source", x->source},
                     {"state", x->paused ? "paused" : "active"},
                     {"next", x->paused ? "-" : format_time(x->next_run_at)},
                     {"last slot", format_time(x->last_slot)},
                     {"last batch", x->last_batch_id.empty() ? "-" : x->last_batch_id + " (" + x->last_batch_state + ")"},
                     {"fired", std::to_string(x->fired)},
                     {"skipped", std::to_string(x->skipped)},
                     {"missed slots", std::to_string(x->missed)},
                     {"tasks", std::to_string(x->template_tasks)}});
    for (const auto& t : x->spec.tasks)
      fmt::print("  {} {} {}{}\n", fleet::printable(t.id), fleet::printable(t.type), compact(t.data),
                 t.delay_ms != 0 ? " +" + fleet::format_duration_ms(t.delay_ms) : "");
    return exit_ok;
  }
  if (what == "run") {
    auto id = s.client->run_schedule(name);
    if (!id)
      return error(error_text(id.error()));
    if (inv.json)
      print_json({{"schedule", name}, {"batch_id", *id}});
    else
      fmt::print("{}\n", *id);
    return exit_ok;
  }
  caf::expected<bool> done{false};
  const char* verb = nullptr;
  if (what == "pause") {
    done = s.client->pause_schedule(name);
    verb = "paused";
  } else if (what == "resume") {
    done = s.client->resume_schedule(name);
    verb = "resumed";
  } else if (what == "rm" || what == "remove") {
    done = s.client->remove_schedule(name);
    verb = "removed";
  } else {
    return error(fmt::format("unknown schedule command \"{}\" (add, list, show, pause, resume, rm, run)",
                             fleet::printable(what, 40)));
  }
  if (!done)
    return error(error_text(done.error()));
  if (inv.json)
    print_json({{"schedule", name}, {"changed", *done}});
  else if (*done)
    fmt::print("schedule {} {}\n", fleet::printable(name), verb);
  else
    fmt::print("schedule {} was already {}\n", fleet::printable(name), verb);
  return exit_ok;
}

} // namespace fleetctl
