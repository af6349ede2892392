#pragma once

// The calls and transitions the two-backend suites (store_conformance_test.cpp) are written in.

#include "fleet/store.hpp"
#include "fleetd/error.hpp"
#include "fleetd/queue.hpp"
#include "in_transaction.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace fleet::test {

template <class B>
void submit(B& b, const std::string& id, const std::vector<task>& tasks, int64_t now = 1000) {
  auto err = in_transaction(*b.store, [&] { return b.store->insert_batch(id, tasks, now); });
  REQUIRE_MESSAGE(!err, error_text(err));
}

template <class B>
fleet_store::milestones write(B& b, const std::vector<transition>& group) {
  auto out = in_transaction(*b.store, [&] { return b.store->record(group); });
  REQUIRE_MESSAGE(out, error_text(out.error()));
  return *out;
}

template <class B>
std::vector<runnable_task> runnable(B& b, const std::string& queue = default_queue) {
  auto next = b.store->next_runnable(queue, 100);
  REQUIRE(next);
  return *next;
}

inline attempt_started started(const runnable_task& t, int32_t attempt, int64_t at, std::string node = {}) {
  return {t.seq, t.batch_id, t.spec.id, attempt, "w-" + t.spec.id + "-" + std::to_string(attempt), at,
          std::move(node)};
}

inline attempt_ended ended(const runnable_task& t, int32_t attempt, int64_t at, task_disposition next) {
  attempt_ended e;
  e.seq = t.seq;
  e.batch_id = t.batch_id;
  e.task_id = t.spec.id;
  e.attempt = attempt;
  e.at = at;
  e.next = next;
  e.duration_ms = 100;
  if (next == task_disposition::succeeded) {
    e.outcome = attempt_outcome::succeeded;
    e.result = "{\"from\":\"" + t.spec.id + "\"}";
  } else {
    e.outcome = next == task_disposition::cancelled ? attempt_outcome::cancelled : attempt_outcome::failed;
    e.error = "boom " + t.spec.id;
    e.not_before = next == task_disposition::retry ? at + 500 : 0;
  }
  return e;
}

inline const runnable_task& named(const std::vector<runnable_task>& ts, const std::string& id) {
  for (const auto& t : ts)
    if (t.spec.id == id)
      return t;
  FAIL("no runnable task " << id);
  return ts.front();
}

inline errc code(const caf::error& err) {
  return code_of(err);
}

} // namespace fleet::test
