#include "fleetd/error.hpp"
#include "fleet/manager/ready_window.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

using namespace fleet;

namespace {

runnable_task row(int64_t seq, int32_t priority = 0, std::string type = "echo") {
  runnable_task t;
  t.seq = seq;
  t.batch_id = "b";
  t.spec.id = "t" + std::to_string(seq);
  t.spec.type = std::move(type);
  t.spec.priority = priority;
  return t;
}

/// A runnable index in run order (priority descending, then seq), and a log of its reads.
struct fake_index {
  std::vector<runnable_task> rows;
  std::vector<std::pair<size_t, bool>> reads; ///< (limit, from the top)

  /// Tasks `first` to `last` (seqs, in run order after those held), each with `data_bytes` of data.
  void add(int64_t first, int64_t last, size_t data_bytes) {
    for (auto seq = first; seq <= last; ++seq) {
      rows.push_back(row(seq));
      rows.back().spec.data = std::string(data_bytes, 'x');
    }
  }

  ready_window::read_fn reader() {
    return [this](size_t limit, const std::optional<run_position>& from) {
      reads.emplace_back(limit, !from.has_value());
      std::vector<runnable_task> out;
      for (const auto& r : rows) {
        if (from && (r.spec.priority > from->priority || (r.spec.priority == from->priority && r.seq <= from->seq)))
          continue;
        if (out.size() == limit)
          break;
        out.push_back(r);
      }
      return caf::expected<std::vector<runnable_task>>{std::move(out)};
    };
  }
};

ready_window::skip_fn skip_none = [](const runnable_task&) { return false; };
auto any = [](const runnable_task&) { return true; };

} // namespace

TEST_CASE("the window reads in slices and goes on where the last read stopped") {
  fake_index index;
  for (int64_t seq = 1; seq <= 10; ++seq)
    index.rows.push_back(row(seq));
  ready_window window;
  REQUIRE_FALSE(window.fill(4, 0, index.reader(), skip_none));
  CHECK(window.size() == 4);
  CHECK_FALSE(window.exhausted());
  std::vector<int64_t> taken;
  for (int i = 0; i < 10; ++i) {
    REQUIRE_FALSE(window.fill(4, 0, index.reader(), skip_none));
    auto next = window.take_first(any);
    REQUIRE(next);
    taken.push_back(next->seq);
  }
  CHECK(taken == std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  // Three reads of 4 (the third short: the index is exhausted); only the first from the top.
  REQUIRE(index.reads.size() == 3);
  CHECK(index.reads[0] == std::pair<size_t, bool>{4, true});
  CHECK(index.reads[1] == std::pair<size_t, bool>{4, false});
  CHECK(window.exhausted());
  CHECK(window.empty());
  // Exhausted: no further reads until invalidated.
  REQUIRE_FALSE(window.fill(4, 0, index.reader(), skip_none));
  CHECK(index.reads.size() == 3);
}

TEST_CASE("a read from the top asks for the uncommitted tasks on top of the window, and skips them") {
  fake_index index;
  for (int64_t seq = 1; seq <= 6; ++seq)
    index.rows.push_back(row(seq));
  std::set<int64_t> uncommitted{1, 2};
  auto skip = [&](const runnable_task& t) { return uncommitted.count(t.seq) != 0; };
  ready_window window;
  REQUIRE_FALSE(window.fill(3, uncommitted.size(), index.reader(), skip));
  REQUIRE(index.reads.size() == 1);
  CHECK(index.reads[0].first == 5); // 3 + 2 uncommitted
  CHECK(window.size() == 3);        // 3, 4, 5
  auto first = window.take_first(any);
  REQUIRE(first);
  CHECK(first->seq == 3);
}

TEST_CASE("a task that does not fit lets the ones behind it pass, and stays first") {
  fake_index index;
  index.rows = {row(1, 5, "gpu"), row(2, 0, "echo"), row(3, 0, "echo")};
  ready_window window;
  REQUIRE_FALSE(window.fill(64, 0, index.reader(), skip_none));
  auto not_gpu = [](const runnable_task& t) { return t.spec.type != "gpu"; };
  auto next = window.take_first(not_gpu);
  REQUIRE(next);
  CHECK(next->seq == 2);
  next = window.take_first(any);
  REQUIRE(next);
  CHECK(next->seq == 1);
  CHECK_FALSE(window.take_first([](const runnable_task&) { return false; }));
  CHECK(window.size() == 1);
}

TEST_CASE("invalidate starts the next read from the top: a task that became runnable again is seen") {
  fake_index index;
  index.rows = {row(1), row(2)};
  ready_window window;
  REQUIRE_FALSE(window.fill(64, 0, index.reader(), skip_none));
  CHECK(window.exhausted());
  REQUIRE(window.take_first(any));
  REQUIRE(window.take_first(any));
  index.rows.insert(index.rows.begin(), row(0, 9)); // a higher priority task arrives
  REQUIRE_FALSE(window.fill(64, 0, index.reader(), skip_none));
  CHECK(window.empty()); // exhausted: not read again
  window.invalidate();
  REQUIRE_FALSE(window.fill(64, 0, index.reader(), skip_none));
  auto next = window.take_first(any);
  REQUIRE(next);
  CHECK(next->seq == 0);
  CHECK(index.reads.back().second); // from the top
}

TEST_CASE("a failed read is returned and leaves the window as it was") {
  ready_window window;
  auto broken = [](size_t, const std::optional<run_position>&) -> caf::expected<std::vector<runnable_task>> {
    return caf::make_error(errc::database_damaged, "malformed");
  };
  auto err = window.fill(64, 0, broken, skip_none);
  CHECK(err == errc::database_damaged);
  CHECK(window.empty());
  CHECK_FALSE(window.exhausted());
}

TEST_CASE("a slice whose tasks are all skipped is followed by the next slice, not taken as the end") {
  fake_index index;
  for (int64_t seq = 1; seq <= 8; ++seq)
    index.rows.push_back(row(seq));
  auto skip_first_four = [](const runnable_task& t) { return t.seq <= 4; };
  ready_window window;
  REQUIRE_FALSE(window.fill(4, 0, index.reader(), skip_first_four));
  CHECK(index.reads.size() == 2);
  auto next = window.take_first(any);
  REQUIRE(next);
  CHECK(next->seq == 5);
}

TEST_CASE("reads of big tasks ask for fewer of them, so that a window holds about its byte budget") {
  constexpr size_t budget = 8 << 20;
  fake_index index;
  index.add(1, 20, 1 << 20); // 20 of 1 MiB, then small
  index.add(21, 40, 100);
  ready_window window;
  // Nothing read yet: at most the first read's rows, whatever the caller allows.
  CHECK(window.read_size(256, budget) == 64);
  CHECK(window.read_size(16, budget) == 16);
  REQUIRE_FALSE(window.fill(4, 0, index.reader(), skip_none));
  // 1 MiB tasks: 8 to a read of 8 MiB (never fewer than one, even under a tiny budget).
  CHECK(window.read_size(256, budget) == 7); // 1 MiB and the row's overhead: 7 fit in 8 MiB
  CHECK(window.read_size(256, 1) == 1);
  CHECK(window.read_size(4, budget) == 4);
  // The big ones taken, small ones read: the size grows back to the caller's limit.
  for (int i = 0; i < 20; ++i) {
    REQUIRE_FALSE(window.fill(window.read_size(256, budget), 0, index.reader(), skip_none));
    REQUIRE(window.take_first(any));
  }
  // It halves the size it knows with each read of smaller tasks (a burst of big ones shrinks it at
  // once): the reads double until they are the caller's limit again.
  size_t last = 0;
  for (int reads = 0; reads < 16 && window.read_size(256, budget) < 256; ++reads) {
    auto size = window.read_size(256, budget);
    CHECK(size >= last);
    last = size;
    for (int64_t seq = 41 + 1000 * reads; seq < 41 + 1000 * reads + 256; ++seq) {
      index.rows.push_back(row(seq));
      index.rows.back().spec.data = "{}";
    }
    while (!window.empty())
      REQUIRE(window.take_first(any));
    REQUIRE_FALSE(window.fill(size, 0, index.reader(), skip_none));
  }
  CHECK(window.read_size(256, budget) == 256);
  // No read of the big tasks asked for more than the budget holds.
  for (size_t i = 1; i < index.reads.size() && i < 4; ++i)
    CHECK(index.reads[i].first <= 8);
  // An invalidation keeps what was learnt about the tasks' size.
  window.invalidate();
  CHECK(window.read_size(256, budget) == 256);
}

TEST_CASE("a top-up of big tasks stops at the byte budget, as a fill does") {
  constexpr size_t budget = 8 << 20;
  fake_index index;
  index.add(1, 200, 1 << 20);
  ready_window window;
  REQUIRE_FALSE(window.fill(64, 0, index.reader(), skip_none, budget));
  // The first read knew nothing of the size: it brought more than the budget holds, and no
  // top-up adds to it.
  REQUIRE(window.size() == 64);
  REQUIRE_FALSE(window.top_up(64, index.reader(), skip_none, budget));
  CHECK(window.size() == 64);
  // Down to two tasks, a top-up brings what fits beside them: 5 more of about 1 MiB in 8 MiB; the
  // next brings one (a read is never of none) and the window is at its budget.
  while (window.size() > 2)
    REQUIRE(window.take_first(any));
  REQUIRE_FALSE(window.top_up(64, index.reader(), skip_none, budget));
  CHECK(window.size() == 7);
  REQUIRE_FALSE(window.top_up(64, index.reader(), skip_none, budget));
  CHECK(window.size() == 8);
  REQUIRE_FALSE(window.top_up(64, index.reader(), skip_none, budget));
  CHECK(window.size() == 8);
}

TEST_CASE("within one fill, each read is sized by the reads before it, uncommitted tasks on top included") {
  constexpr size_t budget = 8 << 20;
  fake_index index;
  index.add(1, 300, 1 << 20);
  // The first 200 have changes waiting for their commit: a read from the top meets them first.
  auto skip_uncommitted = [](const runnable_task& t) { return t.seq <= 200; };
  ready_window window;
  REQUIRE_FALSE(window.fill(256, 200, index.reader(), skip_uncommitted, budget));
  REQUIRE(index.reads.size() >= 2);
  // Nothing known at first: 64 and 64 of the uncommitted; then 1 MiB tasks, 7 to a read.
  CHECK(index.reads[0] == std::pair<size_t, bool>{128, true});
  for (size_t i = 1; i < index.reads.size(); ++i)
    CHECK(index.reads[i] == std::pair<size_t, bool>{7, false});
  REQUIRE_FALSE(window.empty());
  CHECK(window.rows().front().seq == 201);
  CHECK(window.size() <= 7);
}

namespace {

ready_window::skip_fn stops_none = [](const runnable_task&) { return false; };

/// Starts every task the window and the index hold, reading `size` at a time: their seqs in order.
std::vector<int64_t> take_all(ready_window& window, fake_index& index, size_t size) {
  std::vector<int64_t> taken;
  for (;;) {
    REQUIRE_FALSE(window.fill(size, 0, index.reader(), skip_none));
    auto next = window.take_first(any);
    if (!next)
      return taken;
    taken.push_back(next->seq);
  }
}

/// Tasks `seqs` at `priority`, in run order as a submit hands them over.
std::vector<runnable_task> fresh_rows(std::vector<int64_t> seqs, int32_t priority = 0) {
  std::vector<runnable_task> out;
  for (auto seq : seqs)
    out.push_back(row(seq, priority));
  return out;
}

} // namespace

TEST_CASE("fresh tasks enter a window whose reads found the end, and cost no read") {
  fake_index index;
  ready_window window;
  REQUIRE_FALSE(window.fill(4, 0, index.reader(), skip_none));
  CHECK(window.exhausted());
  auto fresh = fresh_rows({1, 2, 3});
  index.rows = fresh;
  REQUIRE(window.add_fresh(fresh, skip_none, stops_none, 16));
  CHECK(window.size() == 3);
  for (int64_t seq = 1; seq <= 3; ++seq) {
    REQUIRE_FALSE(window.fill(4, 0, index.reader(), skip_none));
    auto next = window.take_first(any);
    REQUIRE(next);
    CHECK(next->seq == seq);
  }
  CHECK(index.reads.size() == 1); // the first, empty one
}

TEST_CASE("fresh tasks after where the reads stopped are left to them, and those before it enter") {
  fake_index index;
  for (int64_t seq = 1; seq <= 6; ++seq)
    index.rows.push_back(row(seq));
  ready_window window;
  REQUIRE_FALSE(window.fill(2, 0, index.reader(), skip_none)); // 1, 2; the reads stopped at 2
  auto fresh = fresh_rows({7, 8});
  auto urgent = fresh_rows({9}, 5);
  index.rows.insert(index.rows.end(), fresh.begin(), fresh.end());
  index.rows.insert(index.rows.begin(), urgent.front());
  REQUIRE(window.add_fresh(fresh, skip_none, stops_none, 16));
  CHECK(window.size() == 2); // 7 and 8 come with the reads
  REQUIRE(window.add_fresh(urgent, skip_none, stops_none, 16));
  CHECK(window.size() == 3); // 9 outranks where the reads stopped: no read would meet it
  CHECK(take_all(window, index, 2) == std::vector<int64_t>{9, 1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("an entry that runs out of room, or reaches a task that stops it, leaves the rest to the reads") {
  fake_index index;
  ready_window window;
  REQUIRE_FALSE(window.fill(4, 0, index.reader(), skip_none));
  auto fresh = fresh_rows({1, 2, 3, 4, 5, 6});
  index.rows = fresh;
  SUBCASE("room") {
    REQUIRE(window.add_fresh(fresh, skip_none, stops_none, 4));
  }
  SUBCASE("a stop") {
    REQUIRE(window.add_fresh(fresh, skip_none, [](const runnable_task& t) { return t.seq == 5; }, 16));
  }
  CHECK(window.size() == 4);
  CHECK_FALSE(window.exhausted());
  CHECK(take_all(window, index, 4) == std::vector<int64_t>{1, 2, 3, 4, 5, 6});
  REQUIRE(index.reads.size() == 2);
  CHECK_FALSE(index.reads[1].second); // on from task 4, not from the top
}

TEST_CASE("fresh tasks that cannot enter in part leave the window as it was, to be read from the top") {
  fake_index index;
  index.rows = {row(1), row(2)};
  ready_window window;
  REQUIRE_FALSE(window.fill(4, 0, index.reader(), skip_none));
  CHECK(window.exhausted());
  // Outranking the tasks the window holds, with no room for all: the reads could not go on from
  // the last one that entered without meeting 1 and 2 again.
  auto fresh = fresh_rows({3, 4, 5}, 9);
  CHECK_FALSE(window.add_fresh(fresh, skip_none, stops_none, 4));
  CHECK(window.size() == 2);
  // A stop at the first task enters nothing either.
  ready_window empty;
  REQUIRE_FALSE(empty.fill(4, 0, fake_index{}.reader(), skip_none));
  auto more = fresh_rows({6, 7});
  CHECK_FALSE(empty.add_fresh(more, skip_none, any, 16));
  CHECK(empty.empty());
}

TEST_CASE("a top-up reads on from where the reads stopped, up to the size asked, and never from the top") {
  fake_index index;
  for (int64_t seq = 1; seq <= 10; ++seq)
    index.rows.push_back(row(seq));
  ready_window window;
  int wakes = 0;
  window.on_wake([&] { ++wakes; });
  // Before a first read a top-up reads nothing: the first read is the fill's, from the top.
  REQUIRE_FALSE(window.top_up(4, index.reader(), skip_none));
  CHECK(index.reads.empty());
  REQUIRE_FALSE(window.fill(3, 0, index.reader(), skip_none));
  REQUIRE(window.take_first(any)->seq == 1);
  // Two left, topped up to five: one read of three after task 3, the task 5 skipped.
  REQUIRE_FALSE(window.top_up(5, index.reader(), [](const runnable_task& t) { return t.seq == 5; }));
  REQUIRE(index.reads.size() == 2);
  CHECK(index.reads.back() == std::pair<size_t, bool>{3, false});
  std::vector<int64_t> seqs;
  for (const auto& t : window.rows())
    seqs.push_back(t.seq);
  CHECK(seqs == std::vector<int64_t>{2, 3, 4, 6});
  // A full window reads nothing.
  REQUIRE_FALSE(window.top_up(4, index.reader(), skip_none));
  CHECK(index.reads.size() == 2);
  // The rest, then the end: once found, no more reads, and an idle window woken by a top-up
  // never (a top-up reads only what a fill would have read next).
  REQUIRE_FALSE(window.top_up(10, index.reader(), skip_none));
  CHECK(window.exhausted());
  CHECK(window.size() == 8);
  auto reads = index.reads.size();
  REQUIRE_FALSE(window.top_up(20, index.reader(), skip_none));
  CHECK(index.reads.size() == reads);
  while (window.take_first(any)) {
  }
  CHECK(window.idle());
  CHECK(wakes == 0);
  window.invalidate();
  CHECK(wakes == 1);
}

TEST_CASE("with fresh tasks entering at random, the window starts tasks exactly as reads of the index would") {
  // A model run: submits of fresh tasks at random priorities (entering a small window, or
  // refused and read from the top), and starts, each of which must be the first task of the
  // index in run order; a started task leaves the index, as it leaves tasks_runnable.
  for (unsigned seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng{seed};
    fake_index index;
    ready_window window;
    int64_t next_seq = 1;
    size_t submitted = 0;
    size_t started = 0;
    auto in_run_order = [](const runnable_task& a, const runnable_task& b) {
      return a.spec.priority != b.spec.priority ? a.spec.priority > b.spec.priority : a.seq < b.seq;
    };
    auto start_one = [&] {
      REQUIRE_FALSE(window.fill(3, 0, index.reader(), skip_none));
      auto next = window.take_first(any);
      if (index.rows.empty()) {
        CHECK_FALSE(next);
        return;
      }
      REQUIRE(next);
      CHECK(next->seq == index.rows.front().seq);
      index.rows.erase(index.rows.begin());
      ++started;
    };
    for (int step = 0; step < 200; ++step) {
      if (rng() % 7 == 0) {
        // Read with other queues' windows: reads on from where the reads stopped.
        REQUIRE_FALSE(window.top_up(2 + rng() % 4, index.reader(), skip_none));
      } else if (rng() % 3 == 0) {
        std::vector<runnable_task> fresh;
        auto n = 1 + rng() % 6;
        for (size_t i = 0; i < n; ++i)
          fresh.push_back(row(next_seq++, static_cast<int32_t>(rng() % 3)));
        std::stable_sort(fresh.begin(), fresh.end(), in_run_order);
        for (const auto& t : fresh)
          index.rows.insert(std::upper_bound(index.rows.begin(), index.rows.end(), t, in_run_order), t);
        submitted += n;
        auto stop_at = rng() % 8;
        auto stops = [&](const runnable_task& t) { return static_cast<uint64_t>(t.seq) % 8 == stop_at; };
        if (!window.add_fresh(fresh, skip_none, stops, 1 + rng() % 6))
          window.invalidate();
      } else {
        start_one();
      }
    }
    while (!index.rows.empty())
      start_one();
    CHECK(started == submitted);
    REQUIRE_FALSE(window.fill(3, 0, index.reader(), skip_none));
    CHECK(window.empty());
  }
}
