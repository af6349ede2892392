// What a no-op run asks of PostgreSQL, without fleetd's actors (issue 24): submit N tasks, then in
// group commits read the next runnable tasks the way the manager fills its window, and record each
// one's attempt and end, fenced by the leader lease, with synchronous_commit as the server has it.
//   pg-write-path --conninfo C [--n 100000] [--group 256] [--mode rows|sets] [--prepared yes|no]
//                 [--analyze yes|no]
// rows: one statement per task and row, as the SQLite store does; sets: one statement per group
// and table, the rows bound as arrays (unnest). prepared: the runs' statements prepared once
// (pg::connection::prepared) instead of parsed and planned at each call. analyze: ANALYZE tasks
// after the submit, so that the planner knows the new rows. Prints one line: tasks/s of the submit and of the
// runs, and statements per task.

#include "fleet/leader_lease.hpp"
#include "fleet/pg.hpp"
#include "fleet/pg_migrations.hpp"
#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

using namespace fleet;
using clock_type = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& what, const caf::error& err) {
  fmt::print(stderr, "pg-write-path: {}: {}\n", what, error_text(err));
  std::exit(2);
}

template <class T>
T must(caf::expected<T> x, const std::string& what) {
  if (!x)
    die(what, x.error());
  return std::move(*x);
}

void must(caf::error err, const std::string& what) {
  if (err)
    die(what, err);
}

/// An array literal of text elements ('{"a","b"}'), each quoted.
std::string text_array(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char c : xs[i]) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string int_array(const std::vector<int64_t>& xs) {
  return fmt::format("{{{}}}", fmt::join(xs, ","));
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2)
    args[argv[i]] = argv[i + 1];
  auto arg = [&](const std::string& k, const std::string& dflt) {
    auto i = args.find(k);
    return i == args.end() ? dflt : i->second;
  };
  auto conninfo = arg("--conninfo", "");
  int64_t n = std::stoll(arg("--n", "100000"));
  int64_t group = std::stoll(arg("--group", "256"));
  auto mode = arg("--mode", "sets");
  auto use_prepared = arg("--prepared", "yes") == "yes";
  auto analyze = arg("--analyze", "no") == "yes";
  auto db = must(pg::connection::open(conninfo), "connect");
  must(db.exec("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench; SET search_path = bench"), "schema");
  must(migrate(db), "migrate");
  leader_lease lease{"pg-write-path", std::chrono::seconds(10)};
  if (!must(lease.try_acquire(db), "lease"))
    die("lease", caf::make_error(errc::not_leader, "the lease is held"));

  // Submit: the batch row and its tasks, 10,000 rows per statement, one transaction.
  auto t0 = clock_type::now();
  {
    pg::transaction tx{db};
    must(tx.begin(), "begin");
    must(lease.fence(db), "fence");
    must(db.query("INSERT INTO batches (id, created_at, total, first_seq, last_seq) VALUES ('b', $1, $2, 1, $2)",
                  wall_ms(), n),
         "batch");
    for (int64_t first = 1; first <= n; first += 10'000) {
      auto last = std::min(n, first + 9'999);
      must(db.query("INSERT INTO tasks (seq, batch_id, task_id, type, data)"
                    " SELECT s, 'b', s::text, 'echo', '{}' FROM generate_series($1::bigint, $2::bigint) s",
                    first, last),
           "tasks");
    }
    must(db.query("INSERT INTO events (at, kind, batch_id) VALUES ($1, 'batch_submitted', 'b')", wall_ms()),
         "event");
    must(tx.commit(), "commit");
  }
  if (analyze)
    must(db.exec("ANALYZE tasks"), "analyze");
  auto submit_s = seconds_since(t0);

  // Runs: each group reads its window, starts and ends every task in it, counts them on the batch.
  auto q = [&](std::string_view sql, auto&&... xs) {
    return use_prepared ? db.prepared(sql, std::forward<decltype(xs)>(xs)...)
                        : db.query(sql, std::forward<decltype(xs)>(xs)...);
  };
  int64_t done = 0;
  int64_t statements = 0;
  auto t1 = clock_type::now();
  while (done < n) {
    pg::transaction tx{db};
    must(tx.begin(), "begin");
    must(lease.fence(db), "fence");
    auto window = must(q("SELECT seq, task_id FROM tasks WHERE state = 'pending' AND paused = 0"
                                " AND queue = 'default' ORDER BY priority DESC, seq LIMIT $1",
                                group),
                       "window");
    statements += 2;
    std::vector<int64_t> seqs;
    for (int r = 0; r < window.rows(); ++r)
      seqs.push_back(must(window.int64(r, 0), "seq"));
    if (seqs.empty())
      break;
    auto now = wall_ms();
    if (mode == "rows") {
      for (auto seq : seqs) {
        must(q("INSERT INTO attempts (task_seq, attempt, worker_id, started_at, finished_at, outcome, epoch)"
                      " VALUES ($1, 1, $2, $3, $3, 'succeeded', $4)",
                      seq, fmt::format("w{}", seq), now, lease.epoch()),
             "attempt");
        must(q("UPDATE tasks SET state = 'succeeded', attempts = 1, result = '{}', started_at = $2,"
                      " finished_at = $2, duration_ms = 0 WHERE seq = $1",
                      seq, now),
             "task");
        statements += 2;
      }
    } else {
      std::vector<std::string> workers;
      for (auto seq : seqs)
        workers.push_back(fmt::format("w{}", seq));
      auto seq_array = int_array(seqs);
      must(q("INSERT INTO attempts (task_seq, attempt, worker_id, started_at, finished_at, outcome, epoch)"
                    " SELECT s, 1, w, $3, $3, 'succeeded', $4 FROM unnest($1::bigint[], $2::text[]) AS x(s, w)",
                    seq_array, text_array(workers), now, lease.epoch()),
           "attempts");
      must(q("UPDATE tasks SET state = 'succeeded', attempts = 1, result = '{}', started_at = $2,"
                    " finished_at = $2, duration_ms = 0 FROM unnest($1::bigint[]) AS x(s) WHERE seq = x.s",
                    seq_array, now),
           "tasks");
      statements += 2;
    }
    must(q("UPDATE batches SET succeeded = succeeded + $2, started_at = coalesce(started_at, $3)"
                  " WHERE id = $1",
                  "b", static_cast<int64_t>(seqs.size()), now),
         "batch");
    statements += 2; // and the COMMIT
    must(tx.commit(), "commit");
    done += static_cast<int64_t>(seqs.size());
  }
  auto run_s = seconds_since(t1);
  auto sync = must(db.query("SELECT current_setting('synchronous_commit')"), "setting");
  fmt::print("system=fleetd-postgres-write-path mode={} prepared={} analyze={} n={} group={} submit_s={:.2f} submit_tasks_per_s={:.0f}"
             " run_tasks_per_s={:.0f} statements_per_task={:.2f} synchronous_commit={}\n",
             mode, use_prepared ? "yes" : "no", analyze ? "yes" : "no", n, group, submit_s, n / submit_s, done / run_s, static_cast<double>(statements) / done,
             sync.text(0, 0));
  return done == n ? 0 : 1;
}
