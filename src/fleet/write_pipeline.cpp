#include "fleet/write_pipeline.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <pthread.h>
#include <thread>

namespace fleet {

namespace {

caf::error run_in_transaction(fleet_store& store, const write_pipeline::job& j) {
  auto tx = store.transaction();
  if (auto err = tx.begin())
    return err;
  if (auto err = j(store))
    return err; // the transaction rolls back when it goes out of scope
  return tx.commit();
}

/// No exception may leave the writer (on its own thread, one would end fleetd): a job that throws
/// fails like a write the disk refused, and its changes are written again with the next group.
caf::error run_guarded(fleet_store& store, const write_pipeline::job& j) {
  try {
    return run_in_transaction(store, j);
  } catch (...) {
    return caf::make_error(errc::storage_unavailable,
                           fmt::format("the write threw: {}", exception_text(std::current_exception())));
  }
}

caf::error run_timed(fleet_store& store, const write_pipeline::job& j, histogram* latency) {
  if (!latency)
    return run_guarded(store, j);
  auto start = std::chrono::steady_clock::now();
  auto err = run_guarded(store, j);
  if (!err)
    latency->observe_us(std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count());
  return err;
}

} // namespace

bool refused_for_storage(const caf::error& err) {
  return err == errc::storage_unavailable || err == errc::database_damaged;
}

bool holds_back(write_pipeline::kind k, const caf::error& err) {
  return refused_for_storage(err) || (err && k == write_pipeline::kind::prerequisite);
}

caf::error write_pipeline::run_in_order(uint64_t epoch, kind k, const std::function<caf::error()>& j) {
  if (epoch == refused_epoch_)
    return refusal_;
  auto err = j();
  if (holds_back(k, err)) {
    refused_epoch_ = epoch;
    // The code stays the failed job's (storage_unavailable keeps meaning "try again later");
    // the text says that this job did not run.
    refusal_ = err.category() == error_category
                 ? caf::make_error(static_cast<errc>(err.code()),
                                   fmt::format("not written, because a write before it failed: {}", error_text(err)))
                 : err;
  }
  return err;
}

namespace {

class inline_pipeline final : public write_pipeline {
public:
  inline_pipeline(std::shared_ptr<fleet_store> store, std::function<void()> notify, histogram* latency)
    : store_(std::move(store)), notify_(std::move(notify)), latency_(latency) {}

  void post(job j, kind k) override {
    outcomes_.push_back(run_in_order(epoch(), k, [&] { return run_timed(*store_, j, latency_); }));
    notify_();
  }

  caf::error run(job j) override {
    return run_timed(*store_, j, latency_);
  }

  std::vector<caf::error> take_outcomes() override {
    return std::exchange(outcomes_, {});
  }

private:
  std::shared_ptr<fleet_store> store_;
  std::function<void()> notify_;
  histogram* latency_;
  std::vector<caf::error> outcomes_;
};

class threaded_pipeline final : public write_pipeline {
public:
  threaded_pipeline(std::shared_ptr<fleet_store> store, std::function<void()> notify, histogram* latency)
    : store_(std::move(store)), notify_(std::move(notify)), latency_(latency), thread_([this] { loop(); }) {}

  ~threaded_pipeline() override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    jobs_ready_.notify_one();
    thread_.join();
  }

  void post(job j, kind k) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      jobs_.push_back({std::move(j), nullptr, epoch(), k});
    }
    jobs_ready_.notify_one();
  }

  caf::error run(job j) override {
    std::promise<caf::error> outcome;
    auto done = outcome.get_future();
    {
      std::lock_guard<std::mutex> guard{mtx_};
      jobs_.push_back({std::move(j), &outcome, epoch(), kind::independent});
    }
    jobs_ready_.notify_one();
    return done.get();
  }

  std::vector<caf::error> take_outcomes() override {
    std::lock_guard<std::mutex> guard{mtx_};
    return std::exchange(outcomes_, {});
  }

private:
  void loop() {
    pthread_setname_np(pthread_self(), "fleet.writer");
    std::unique_lock<std::mutex> lock{mtx_};
    for (;;) {
      jobs_ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty())
        return; // stopping, and every posted job is done
      auto [j, waiter, job_epoch, job_kind] = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      // run()'s caller gets its outcome itself: it is outside the order of posted jobs.
      auto err = waiter ? run_timed(*store_, j, latency_)
                        : run_in_order(job_epoch, job_kind, [&] { return run_timed(*store_, j, latency_); });
      j = nullptr; // what the job holds is released on this thread, before the outcome is seen
      if (waiter) {
        waiter->set_value(std::move(err));
        lock.lock();
        continue;
      }
      lock.lock();
      auto first = outcomes_.empty();
      outcomes_.push_back(std::move(err));
      if (first) {
        // One wake-up per run of outcomes: the caller takes them all at once.
        lock.unlock();
        notify_();
        lock.lock();
      }
    }
  }

  std::shared_ptr<fleet_store> store_;
  std::function<void()> notify_;
  histogram* latency_;
  std::mutex mtx_;
  std::condition_variable jobs_ready_;
  struct queued {
    job j;
    std::promise<caf::error>* waiter; ///< run(): the outcome goes here, not to outcomes_
    uint64_t epoch;
    kind k;
  };
  std::deque<queued> jobs_;
  std::vector<caf::error> outcomes_;
  bool stopping_ = false;
  std::thread thread_; // last: starts once everything above exists
};

} // namespace

std::unique_ptr<write_pipeline> make_inline_pipeline(std::shared_ptr<fleet_store> store,
                                                     std::function<void()> notify, histogram* latency) {
  return std::make_unique<inline_pipeline>(std::move(store), std::move(notify), latency);
}

std::unique_ptr<write_pipeline> make_threaded_pipeline(std::shared_ptr<fleet_store> store,
                                                       std::function<void()> notify, histogram* latency) {
  return std::make_unique<threaded_pipeline>(std::move(store), std::move(notify), latency);
}

} // namespace fleet
