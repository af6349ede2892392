#include "fleet/manager/queue_scheduler.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>

using namespace fleet;

namespace {

runnable_task queued_row(int64_t seq, std::string group = {}) {
  runnable_task t;
  t.seq = seq;
  t.spec.id = "t" + std::to_string(seq);
  t.spec.group = std::move(group);
  return t;
}

/// Puts `rows` into `q`'s window as a read would.
void fill(queue_scheduler& s, queue_slot& q, std::vector<runnable_task> rows) {
  auto done = false;
  REQUIRE_FALSE(q.window.fill(
    rows.size() + 1, 0,
    [&](size_t, const std::optional<run_position>&) -> caf::expected<std::vector<runnable_task>> {
      if (std::exchange(done, true))
        return std::vector<runnable_task>{};
      return rows;
    },
    [&](const runnable_task& t) { return !s.claim(q, t.spec.group, {t.spec.priority, t.seq}); }));
}

} // namespace

TEST_CASE("a token bucket starts full, refills N per interval, and says when the next start may be") {
  token_bucket b;
  b.configure(2, 1000, 0);
  CHECK(b.available(0));
  b.take(0);
  b.take(0);
  CHECK_FALSE(b.available(0));
  CHECK(b.next_at(0) == 500);
  CHECK_FALSE(b.available(499));
  CHECK(b.available(500));
  b.take(500);
  // Never more than N saved, however long it was quiet.
  CHECK(b.tokens(1'000'000) == doctest::Approx(2));
  // A smaller rate keeps what is saved, up to its size; no rate never holds back.
  b.configure(1, 1000, 1'000'000);
  CHECK(b.tokens(1'000'000) == doctest::Approx(1));
  b.configure(0, 0, 1'000'000);
  CHECK(b.available(1'000'000));
  CHECK_FALSE(b.limited());
}

TEST_CASE("stride scheduling shares starts by weight, and an idle queue saves no credit") {
  queue_scheduler s;
  auto& a = s.ensure("a");
  auto& b = s.ensure("b");
  s.configure(a, queue_limits{0, 0, 0, 3, 0, false}, 0);
  s.configure(b, queue_limits{0, 0, 0, 1, 0, false}, 0);
  s.configure(*s.find("default"), queue_limits{0, 0, 0, 1, 0, true}, 0);
  // Unread windows may hold work: both compete.
  for (int i = 1; i <= 400; ++i) {
    auto* q = s.pick(0, {});
    REQUIRE(q != nullptr);
    s.on_start(*q, {}, 0);
    auto total = static_cast<double>(a.started + b.started);
    CHECK(std::abs(a.started - 0.75 * total) <= 1.0);
  }
  // b goes idle for a while (paused), then comes back: it does not get a burst of starts.
  s.configure(b, queue_limits{0, 0, 0, 1, 0, true}, 0);
  for (int i = 0; i < 100; ++i)
    s.on_start(*s.pick(0, {}), {}, 0);
  s.configure(b, queue_limits{0, 0, 0, 1, 0, false}, 0);
  int b_in_a_row = 0;
  for (auto* q = s.pick(0, {}); q != nullptr && q->name == "b" && b_in_a_row < 10; q = s.pick(0, {})) {
    s.on_start(*q, {}, 0);
    ++b_in_a_row;
  }
  CHECK(b_in_a_row <= 1);
}

TEST_CASE("max-workers, pause and a skipped queue are not picked") {
  queue_scheduler s;
  auto& q = s.ensure("q");
  s.configure(q, queue_limits{1, 0, 0, 1, 0, false}, 0);
  s.configure(*s.find("default"), queue_limits{0, 0, 0, 1, 0, true}, 0);
  REQUIRE(s.pick(0, {}) == &q);
  s.on_start(q, {}, 0);
  CHECK(s.pick(0, {}) == nullptr);
  CHECK_FALSE(s.on_end("q", {}));
  CHECK(s.pick(0, {}) == &q);
  std::vector<bool> tried(s.all().size(), false);
  tried[s.index_of(q)] = true;
  CHECK(s.pick(0, tried) == nullptr);
  s.configure(q, queue_limits{0, 0, 0, 1, 0, true}, 0);
  CHECK(s.pick(0, {}) == nullptr);
}

TEST_CASE("group claims keep a group's tasks in the window and running within its cap") {
  queue_scheduler s;
  auto& q = s.ensure("tenants");
  s.configure(q, queue_limits{0, 0, 0, 1, 2, false}, 0);
  fill(s, q, {queued_row(1, "a"), queued_row(2, "a"), queued_row(3, "a"), queued_row(4, "b"), queued_row(5)});
  // Two of a's come in, the third is left out and noted; b and the task without a group pass.
  CHECK(q.window.size() == 4);
  CHECK(q.claimed.at("a") == 2);
  REQUIRE(q.dropped.count("a") == 1);
  // The group's next read starts at its first task left out.
  CHECK(q.dropped.at("a").seq == 3);
  auto first = q.window.take_first([](const runnable_task&) { return true; });
  REQUIRE(first);
  s.on_start(q, first->spec.group, 0);
  CHECK(q.running_groups.at("a") == 1);
  CHECK(q.claimed.at("a") == 2); // running now, still claimed
  // Its end frees a place, and says that a's left-out tasks may be read.
  CHECK(s.on_end("tenants", "a"));
  CHECK(q.claimed.at("a") == 1);
  CHECK(q.running_groups.empty());
  // Reading again from the top gives back the window's claims.
  s.invalidate_all();
  CHECK(q.claimed.count("a") == 0);
  CHECK(q.dropped.empty());
  // A new cap reads the window again.
  fill(s, q, {queued_row(1, "a"), queued_row(2, "a"), queued_row(3, "a")});
  s.configure(q, queue_limits{0, 0, 0, 1, 3, false}, 0);
  CHECK(q.window.empty());
  CHECK(q.claimed.empty());
}

TEST_CASE("a queue held back only by its rate says when it may start again") {
  queue_scheduler s;
  auto& q = s.ensure("api");
  s.configure(*s.find("default"), queue_limits{0, 0, 0, 1, 0, true}, 0);
  s.configure(q, queue_limits{0, 1, 200, 1, 0, false}, 0);
  REQUIRE(s.pick(0, {}) == &q);
  s.on_start(q, {}, 0);
  CHECK(s.pick(10, {}) == nullptr);
  CHECK(s.next_token_at(10) == 200);
  CHECK(s.pick(200, {}) == &q);
}

TEST_CASE("a pick without a pass over every queue chooses what the pass over every queue chose") {
  // The reference is the rule itself: among the queues that may start (not paused, below
  // max-workers, a token, a window that is not idle, not tried), the lowest of max(pass, the last
  // choice's pass), the first queue on ties.
  queue_scheduler s;
  std::mt19937 random{20261206};
  auto roll = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
  for (int i = 0; i < 8; ++i)
    s.ensure("q" + std::to_string(i));
  double last_pass = 0;
  int64_t now = 0;
  int picks = 0, nones = 0, seq = 0;
  for (int step = 0; step < 20'000; ++step) {
    auto& q = s.all()[static_cast<size_t>(roll(static_cast<int>(s.all().size())))];
    switch (roll(12)) {
      case 0: // limits change: weight, max-workers, pause, rate
        s.configure(q, queue_limits{roll(3), roll(4) == 0 ? 2 : 0, 100, 1 + roll(5), 0, roll(5) == 0}, now);
        break;
      case 1: // the reads found nothing
        q.window.known_empty();
        break;
      case 2: // read again from the top
        s.reset_window(q);
        break;
      case 3: // a task enters
        q.window.insert(queued_row(++seq));
        break;
      case 4: // an attempt ends
        s.on_end(q.name, {});
        break;
      case 5:
        now += roll(50);
        break;
      default: {
        std::vector<bool> tried(s.all().size(), false);
        for (size_t i = 0; i < tried.size(); ++i)
          tried[i] = roll(8) == 0;
        const queue_slot* expected = nullptr;
        double best = std::numeric_limits<double>::infinity();
        for (size_t i = 0; i < s.all().size(); ++i) {
          auto& c = s.all()[i];
          if (tried[i] || c.limits.paused || c.window.idle()
              || (c.limits.max_workers > 0 && c.running >= c.limits.max_workers) || !c.bucket.available(now))
            continue;
          if (auto pass = std::max(c.pass, last_pass); pass < best) {
            best = pass;
            expected = &c;
          }
        }
        auto* chosen = s.pick(now, tried);
        REQUIRE(chosen == expected);
        if (chosen == nullptr) {
          ++nones;
          break;
        }
        ++picks;
        last_pass = std::max(last_pass, chosen->pass);
        s.on_start(*chosen, {}, now);
      }
    }
  }
  // Both outcomes were exercised.
  CHECK(picks > 1000);
  CHECK(nones > 100);
}
