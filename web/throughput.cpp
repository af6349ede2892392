#include "web/throughput.hpp"

#include <nlohmann/json.hpp>
#include <pthread.h>

namespace fleet {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

throughput_history::throughput_history(std::shared_ptr<const fleet_metrics> metrics,
                                       std::function<caf::expected<int64_t>()> queued,
                                       std::chrono::milliseconds interval)
  : metrics_(std::move(metrics)), queued_(std::move(queued)), interval_(interval),
    last_succeeded_(metrics_->tasks_succeeded.value()), last_failed_(metrics_->tasks_failed.value()),
    last_retried_(metrics_->tasks_retried.value()) {
  thread_ = std::thread{[this] {
    pthread_setname_np(pthread_self(), "fleet.http.rate");
    std::unique_lock<std::mutex> lock{mtx_};
    // Monotonic waits: a step of the wall clock neither stops nor floods the sampling.
    auto next = std::chrono::steady_clock::now() + interval_;
    while (!stop_.wait_until(lock, next, [this] { return stopping_; })) {
      lock.unlock();
      sample();
      lock.lock();
      next += interval_;
      auto now = std::chrono::steady_clock::now();
      if (next < now)
        next = now + interval_; // fell behind (a paused process): no burst of catch-up samples
    }
  }};
}

throughput_history::~throughput_history() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  stop_.notify_all();
  thread_.join();
}

void throughput_history::sample() {
  auto queued = queued_(); // outside the lock: it may wait for the manager
  throughput_sample s;
  s.at = now_ms();
  s.queued = queued ? *queued : -1;
  std::lock_guard<std::mutex> guard{mtx_};
  auto succeeded = metrics_->tasks_succeeded.value();
  auto failed = metrics_->tasks_failed.value();
  auto retried = metrics_->tasks_retried.value();
  s.succeeded = succeeded - last_succeeded_;
  s.failed = failed - last_failed_;
  s.retried = retried - last_retried_;
  last_succeeded_ = succeeded;
  last_failed_ = failed;
  last_retried_ = retried;
  samples_.push_back(s);
  while (samples_.size() > kept)
    samples_.pop_front();
}

nlohmann::json throughput_history::to_json() const {
  auto samples = nlohmann::json::array();
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& s : samples_)
    samples.push_back({{"at", s.at}, {"succeeded", s.succeeded}, {"failed", s.failed}, {"retried", s.retried},
                       {"queued", s.queued < 0 ? nlohmann::json(nullptr) : nlohmann::json(s.queued)}});
  return {{"interval_ms", interval_.count()}, {"samples", std::move(samples)}};
}

} // namespace fleet
