#include "fleetd/task_context.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace fleet {

task_context::task_context(task t, attempt_info info, std::shared_ptr<const std::atomic<bool>> stopped)
  : task_(std::move(t)), info_(std::move(info)), stopped_(std::move(stopped)) {
}

std::chrono::system_clock::time_point task_context::deadline() const {
  if (info_.deadline_ms <= 0)
    return std::chrono::system_clock::time_point::max();
  return std::chrono::system_clock::time_point{std::chrono::milliseconds{info_.deadline_ms}};
}

std::chrono::milliseconds task_context::remaining() const {
  if (info_.deadline_ms <= 0)
    return std::chrono::milliseconds::max();
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::system_clock::now().time_since_epoch());
  return std::max(std::chrono::milliseconds{0}, std::chrono::milliseconds{info_.deadline_ms} - now);
}

bool task_context::cancelled() const {
  return stopped_ != nullptr && stopped_->load(std::memory_order_relaxed);
}

void task_context::progress(double fraction, std::string_view note) const {
  if (!progress_ || !(fraction == fraction)) // NaN: nothing to show
    return;
  progress_(std::clamp(fraction, 0.0, 1.0), std::string{note});
}

void task_context::info(std::string_view text) const {
  spdlog::info("[task {} attempt {}] {}", task_.id, info_.attempt, text);
}

void task_context::warn(std::string_view text) const {
  spdlog::warn("[task {} attempt {}] {}", task_.id, info_.attempt, text);
}

void task_context::error(std::string_view text) const {
  spdlog::error("[task {} attempt {}] {}", task_.id, info_.attempt, text);
}

} // namespace fleet
