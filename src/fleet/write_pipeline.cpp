#include "fleet/write_pipeline.hpp"

#include <condition_variable>
#include <deque>
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

class inline_pipeline final : public write_pipeline {
public:
  inline_pipeline(std::shared_ptr<fleet_store> store, std::function<void()> notify)
    : store_(std::move(store)), notify_(std::move(notify)) {}

  void post(job j) override {
    outcomes_.push_back(run_in_transaction(*store_, j));
    notify_();
  }

  std::vector<caf::error> take_outcomes() override {
    return std::exchange(outcomes_, {});
  }

private:
  std::shared_ptr<fleet_store> store_;
  std::function<void()> notify_;
  std::vector<caf::error> outcomes_;
};

class threaded_pipeline final : public write_pipeline {
public:
  threaded_pipeline(std::shared_ptr<fleet_store> store, std::function<void()> notify)
    : store_(std::move(store)), notify_(std::move(notify)), thread_([this] { loop(); }) {}

  ~threaded_pipeline() override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    jobs_ready_.notify_one();
    thread_.join();
  }

  void post(job j) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      jobs_.push_back(std::move(j));
    }
    jobs_ready_.notify_one();
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
      auto j = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      auto err = run_in_transaction(*store_, j);
      j = nullptr; // what the job holds is released on this thread, before the outcome is seen
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
  std::mutex mtx_;
  std::condition_variable jobs_ready_;
  std::deque<job> jobs_;
  std::vector<caf::error> outcomes_;
  bool stopping_ = false;
  std::thread thread_; // last: starts once everything above exists
};

} // namespace

std::unique_ptr<write_pipeline> make_inline_pipeline(std::shared_ptr<fleet_store> store,
                                                     std::function<void()> notify) {
  return std::make_unique<inline_pipeline>(std::move(store), std::move(notify));
}

std::unique_ptr<write_pipeline> make_threaded_pipeline(std::shared_ptr<fleet_store> store,
                                                       std::function<void()> notify) {
  return std::make_unique<threaded_pipeline>(std::move(store), std::move(notify));
}

} // namespace fleet
