#include "actors/worker_pool.hpp"

#include "fleetd/error.hpp"
#include "fleet/line_process.hpp"
#include "fleet/log.hpp"
#include "fleet/text.hpp"
#include "fleet/worker_protocol.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace fleet {

namespace {

// From a process's threads to its pool, and the pool's restart timer: private to the pool.
using pool_lines_atom = caf::atom_constant<caf::atom("poollines")>;
using pool_broken_atom = caf::atom_constant<caf::atom("poolbroken")>;
using pool_log_atom = caf::atom_constant<caf::atom("poollog")>;
using pool_exit_atom = caf::atom_constant<caf::atom("poolexit")>;
using pool_start_atom = caf::atom_constant<caf::atom("poolstart")>;

using pool_actor = worker_pool_actor::extend<
  caf::reacts_to<pool_lines_atom, int32_t, uint64_t, std::vector<std::string>>,
  caf::reacts_to<pool_broken_atom, int32_t, uint64_t, std::string>,
  caf::reacts_to<pool_log_atom, int32_t, uint64_t, std::string>,
  caf::reacts_to<pool_exit_atom, int32_t, uint64_t, std::string>,
  caf::reacts_to<pool_start_atom, int32_t>>;

struct pending_attempt {
  pool_request request;
  caf::typed_response_promise<task_outcome> promise;
  caf::actor worker;             ///< the attempt's worker actor, whose progress this is
  coordinator_actor coordinator; ///< where progress goes; invalid where there is none
};

struct slot {
  std::unique_ptr<line_process> process;
  uint64_t generation = 0; ///< tells the messages of a replaced process from the current one's
  /// Sent to the process and not answered yet, oldest first: the first is the one it works on (a
  /// process reads its requests in order), the others wait in its stdin (pool.NAME.in-flight).
  std::deque<pending_attempt> in_flight;
  /// Held behind another, then stopped by the fleet: the process will still answer them, and
  /// those answers are dropped (the process is not at fault).
  std::set<std::string> dropped;
  int64_t restart_delay_ms = 0;
  bool retiring = false; ///< killed, its exit not yet seen: gets no attempt
};

struct pool_state {
  static inline const char* name = "fleet.pool";
  pool_spec spec;
  std::vector<slot> slots;
  std::deque<pending_attempt> waiting;
  uint64_t next_generation = 1;
};

using pool_pointer = pool_actor::stateful_pointer<pool_state>;

void dispatch(pool_pointer self);
void process_ended(pool_pointer self, int32_t index, const std::string& how);

void start_process(pool_pointer self, int32_t index) {
  auto& st = self->state;
  auto& s = st.slots[index];
  auto generation = st.next_generation++;
  s.generation = generation;
  caf::weak_actor_ptr weak{self->ctrl()};
  auto to_pool = [weak](auto... xs) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<caf::actor>(strong), xs...);
  };
  line_process_events events{
    [to_pool, index, generation](std::vector<std::string> lines) {
      to_pool(pool_lines_atom::value, index, generation, std::move(lines));
    },
    [to_pool, index, generation](caf::error why) {
      to_pool(pool_broken_atom::value, index, generation, error_text(why));
    },
    [to_pool, index, generation](std::string line) { to_pool(pool_log_atom::value, index, generation, std::move(line)); },
    [to_pool, index, generation](std::string how) { to_pool(pool_exit_atom::value, index, generation, std::move(how)); }};
  line_process_spec spec;
  spec.argv = st.spec.argv;
  spec.env = st.spec.env;
  spec.label = "pool " + st.spec.name;
  spec.sandbox = std::make_shared<const child_sandbox>(st.spec.sandbox);
  auto process = line_process::start(spec, std::move(events));
  if (!process) {
    spdlog::error("pool {}: cannot start {}: {}", st.spec.name, st.spec.argv[0], error_text(process.error()));
    process_ended(self, index, "could not start");
    return;
  }
  spdlog::info("pool {}: process {} started (pid {})", st.spec.name, index, (*process)->pid());
  s.process = std::move(*process);
  dispatch(self);
}

/// The attempt `id` the process of `s` holds; none if it holds no such attempt.
std::deque<pending_attempt>::iterator held(slot& s, const std::string& id) {
  return std::find_if(s.in_flight.begin(), s.in_flight.end(),
                      [&](const pending_attempt& p) { return p.request.attempt_id == id; });
}

/// Everything the process of `s` still holds goes back to the front of the queue, in its order,
/// for another process.
void requeue_held(pool_pointer self, slot& s) {
  auto& waiting = self->state.waiting;
  while (!s.in_flight.empty()) {
    waiting.push_front(std::move(s.in_flight.back()));
    s.in_flight.pop_back();
  }
}

/// The process of `s` is going: the attempt it worked on (its oldest) ends with `outcome`, and
/// those still waiting in its stdin go to another process.
void give_up_process(pool_pointer self, slot& s, task_outcome outcome) {
  if (s.in_flight.empty())
    return;
  s.in_flight.front().promise.deliver(std::move(outcome));
  s.in_flight.pop_front();
  requeue_held(self, s);
}

/// A process that broke the protocol or ran an abandoned attempt: it goes, a new one follows.
void replace(pool_pointer self, slot& s, const std::string& why) {
  if (s.process) {
    spdlog::warn("pool {}: replacing pid {}: {}", self->state.spec.name, s.process->pid(), why);
    s.retiring = true;
    s.process->kill();
  }
}

void dispatch(pool_pointer self) {
  auto& st = self->state;
  for (auto& s : st.slots) {
    if (st.waiting.empty())
      return;
    std::string lines; // what this process gets now, in one write
    while (s.process && !s.retiring && s.in_flight.size() < static_cast<size_t>(st.spec.in_flight)
           && !st.waiting.empty()) {
      auto next = std::move(st.waiting.front());
      st.waiting.pop_front();
      auto line = request_line(next.request);
      if (!line) {
        next.promise.deliver(permanent_failure(error_text(line.error())));
        continue;
      }
      s.in_flight.push_back(std::move(next));
      lines += *line;
    }
    if (!lines.empty())
      s.process->write(std::move(lines));
  }
}

/// A process is gone (or never started): its attempt fails, another starts after a backoff that
/// doubles while processes keep ending early.
void process_ended(pool_pointer self, int32_t index, const std::string& how) {
  auto& spec = self->state.spec;
  auto& s = self->state.slots[static_cast<size_t>(index)];
  give_up_process(self, s, failure(fmt::format("the worker process of pool {} {} during the attempt", spec.name, how)));
  s.process.reset();
  s.dropped.clear();
  s.retiring = false;
  s.restart_delay_ms = std::clamp<int64_t>(s.restart_delay_ms * 2, spec.restart_base_ms, spec.restart_cap_ms);
  spdlog::warn("pool {}: process {} {}; starting another in {} ms", spec.name, index, how, s.restart_delay_ms);
  self->delayed_send(self, std::chrono::milliseconds(s.restart_delay_ms), pool_start_atom::value, index);
  dispatch(self); // what the process held and had not started goes to the others
}

/// The process of `s` said something it must not: its attempt fails with `why`, it is replaced.
void broke_protocol(pool_pointer self, slot& s, const std::string& why) {
  give_up_process(self, s, failure(why));
  replace(self, s, why);
}

/// One line of a process's stdout; false when it broke the protocol (the process is going).
bool take_line(pool_pointer self, slot& s, const std::string& line) {
  auto reply = parse_worker_line(line);
  if (!reply) {
    broke_protocol(self, s, error_text(reply.error()));
    return false;
  }
  if (s.dropped.count(reply->id) > 0) {
    if (reply->what == worker_reply::kind::outcome)
      s.dropped.erase(reply->id);
    return true;
  }
  auto at = held(s, reply->id);
  if (at == s.in_flight.end()) {
    broke_protocol(self, s,
                   fmt::format("the worker broke the protocol: it answered attempt {}, which it was not given",
                               quoted_input(reply->id)));
    return false;
  }
  if (reply->what == worker_reply::kind::progress) {
    spdlog::debug("pool {}: attempt {} at {:.0f}% {}", self->state.spec.name, reply->id, reply->progress * 100,
                  reply->note);
    // In the name of the attempt's worker: the manager takes progress only from it.
    if (at->coordinator && at->worker)
      caf::send_as(at->worker, at->coordinator, progress_atom::value, reply->id, reply->progress, reply->note);
    return true;
  }
  s.restart_delay_ms = 0; // it works: a later crash restarts it quickly again
  at->promise.deliver(std::move(reply->outcome));
  s.in_flight.erase(at);
  return true;
}

pool_actor::behavior_type worker_pool(pool_pointer self, pool_spec spec) {
  auto& st = self->state;
  st.spec = std::move(spec);
  st.slots.resize(static_cast<size_t>(std::max(st.spec.size, 1)));
  for (int32_t i = 0; i < static_cast<int32_t>(st.slots.size()); ++i)
    start_process(self, i);
  auto current = [self](int32_t index, uint64_t generation) -> slot* {
    auto& slots = self->state.slots;
    if (self->current_sender() != nullptr || index < 0 || static_cast<size_t>(index) >= slots.size())
      return nullptr; // only the pool's own threads send these, anonymously
    auto& s = slots[static_cast<size_t>(index)];
    return s.generation == generation ? &s : nullptr;
  };
  return {
    [self](pool_run_atom, task& t, std::string& worker_id, std::string& batch_id, int32_t attempt,
           int64_t deadline_ms, coordinator_actor& coordinator) -> caf::result<task_outcome> {
      // Before the promise, which takes the sender from the current message.
      auto worker = caf::actor_cast<caf::actor>(self->current_sender());
      auto rp = self->make_response_promise<task_outcome>();
      pool_request request{std::move(worker_id), t.id, std::move(batch_id), t.type, std::move(t.data), attempt,
                           deadline_ms, std::move(t.deps)};
      self->state.waiting.push_back(pending_attempt{std::move(request), rp,
                                                    std::move(worker),
                                                    std::move(coordinator)});
      dispatch(self);
      return rp;
    },
    [self](pool_abandon_atom, const std::string& attempt_id) {
      auto& st = self->state;
      std::erase_if(st.waiting, [&](const pending_attempt& p) { return p.request.attempt_id == attempt_id; });
      for (auto& s : st.slots)
        if (auto at = held(s, attempt_id); at != s.in_flight.end() && at != s.in_flight.begin()) {
          // Not started yet (a process takes its requests in order): it runs later, unheard.
          s.in_flight.erase(at);
          s.dropped.insert(attempt_id);
        } else if (at != s.in_flight.end()) {
          s.in_flight.erase(at); // nobody waits for it any more
          // The others it holds run elsewhere: the process goes, whatever it was doing.
          requeue_held(self, s);
          replace(self, s, fmt::format("attempt {} was stopped", attempt_id));
        }
      dispatch(self);
    },
    [self, current](pool_lines_atom, int32_t index, uint64_t generation, std::vector<std::string>& lines) {
      auto s = current(index, generation);
      if (s == nullptr)
        return;
      for (const auto& line : lines)
        if (!take_line(self, *s, line))
          break; // the process broke the protocol and goes: what else it said does not count
      dispatch(self);
    },
    [self, current](pool_broken_atom, int32_t index, uint64_t generation, const std::string& why) {
      auto s = current(index, generation);
      if (s == nullptr)
        return;
      broke_protocol(self, *s, "the worker broke the protocol: " + why);
      dispatch(self);
    },
    [self, current](pool_log_atom, int32_t index, uint64_t generation, const std::string& line) {
      auto s = current(index, generation);
      if (s == nullptr)
        return;
      spdlog::info("pool {} [{}]: {}", self->state.spec.name,
                   s->in_flight.empty() ? std::string{"idle"} : s->in_flight.front().request.attempt_id,
                   printable(line, 4096));
    },
    [self, current](pool_exit_atom, int32_t index, uint64_t generation, const std::string& how) {
      if (current(index, generation) != nullptr)
        process_ended(self, index, how);
    },
    [self](pool_start_atom, int32_t index) {
      if (self->current_sender() != self->ctrl() || index < 0 || static_cast<size_t>(index) >= self->state.slots.size())
        return;
      start_process(self, index);
    },
  };
}

// -- the worker of one attempt ---------------------------------------------------

struct pool_attempt_state {
  pool_attempt_state() = default; // not an aggregate: CAF would build it from the actor's pointer
  worker_pool_actor pool;
  std::string worker_id;
  bool done = false;
  ~pool_attempt_state() {
    if (!done && pool)
      caf::anon_send(pool, pool_abandon_atom::value, worker_id);
  }
};

worker_actor::behavior_type pool_attempt(worker_actor::stateful_pointer<pool_attempt_state> self,
                                         worker_pool_actor pool, attempt_info info) {
  self->state.pool = pool;
  self->state.worker_id = info.worker_id;
  return {
    [self, info](execute_atom, task& t, int32_t attempt) -> caf::result<task_outcome> {
      auto rp = self->make_response_promise<task_outcome>();
      self->request(self->state.pool, caf::infinite, pool_run_atom::value, std::move(t), info.worker_id,
                    info.batch_id, attempt, info.deadline_ms, info.coordinator)
        .then(
          [self, rp](task_outcome& outcome) mutable {
            self->state.done = true;
            rp.deliver(std::move(outcome));
            self->quit();
          },
          [self, rp](caf::error& err) mutable {
            self->state.done = true;
            rp.deliver(failure(fmt::format("the pool did not run the attempt: {}", error_text(err))));
            self->quit();
          });
      return rp;
    },
  };
}

} // namespace

worker_pool_actor add_pool(caf::actor_system& sys, worker_registry& registry, const pool_spec& spec) {
  auto pool = caf::actor_cast<worker_pool_actor>(sys.spawn(worker_pool, spec));
  for (const auto& type : spec.types)
    registry.add(type, [pool](caf::actor_system& sys, const attempt_info& info) {
      return sys.spawn(pool_attempt, pool, info);
    });
  return pool;
}

} // namespace fleet
