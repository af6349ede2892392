#include "fleet/orphans.hpp"

#include <spdlog/spdlog.h>

#include <dirent.h>
#include <signal.h>

#include <cctype>
#include <cstdlib>
#include <thread>

namespace fleet {

std::vector<pid_t> group_members(pid_t pgrp, uint64_t since_ticks) {
  std::vector<pid_t> out;
  auto* dir = ::opendir("/proc");
  if (dir == nullptr)
    return out;
  while (auto* d = ::readdir(dir)) {
    if (!std::isdigit(static_cast<unsigned char>(d->d_name[0])))
      continue;
    auto pid = static_cast<pid_t>(std::strtol(d->d_name, nullptr, 10));
    auto st = read_process_stat(pid);
    if (st && st->pgrp == pgrp && st->start_ticks >= since_ticks)
      out.push_back(pid);
  }
  ::closedir(dir);
  return out;
}

namespace {

/// Whether the group of `e` still has a process of its own: the leader itself (same start time),
/// or, once the leader ended, members started after it (Linux never hands out a pid that is still
/// some group's id, so a group with members is the one the journal names).
bool still_running(const child_journal::entry& e) {
  auto leader = read_process_stat(e.pid);
  if (leader && leader->start_ticks != e.start_ticks)
    return false; // the pid was reused: the group it named ended
  return !group_members(e.pid, e.start_ticks).empty();
}

} // namespace

std::vector<stopped_orphan> stop_orphans(const std::vector<child_journal::entry>& left,
                                      std::chrono::milliseconds grace) {
  std::vector<stopped_orphan> out;
  std::vector<size_t> running;
  for (const auto& e : left) {
    stopped_orphan stop{std::string{e.name()}, e.pid, e.started_at, "gone"};
    if (still_running(e)) {
      ::kill(-e.pid, SIGTERM);
      stop.how = "SIGTERM";
      running.push_back(out.size());
    }
    out.push_back(std::move(stop));
  }
  auto wait_for = [&](std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto any = false;
      for (auto i : running)
        any = any || still_running(left[i]);
      if (!any || std::chrono::steady_clock::now() >= deadline)
        return !any;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  if (running.empty() || wait_for(grace))
    return out;
  for (auto i : running)
    if (still_running(left[i])) {
      ::kill(-left[i].pid, SIGKILL);
      out[i].how = "SIGKILL";
    }
  wait_for(std::chrono::seconds(1));
  return out;
}

std::vector<stopped_orphan> take_over_children(child_journal& journal, std::chrono::milliseconds grace) {
  auto stops = stop_orphans(journal.previous_run(), grace);
  for (const auto& stop : stops)
    if (stop.how == "gone")
      spdlog::info("{} (pid {}) of the last run has ended", stop.label, stop.pid);
    else
      spdlog::warn("{} (process group {}) of the last run was still running: stopped with {}", stop.label, stop.pid,
                   stop.how);
  journal.forget_previous();
  child_journal::install(&journal);
  return stops;
}

} // namespace fleet
