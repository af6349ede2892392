#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace fleet {

/// Items bound for one message, collected until the message should go: at `max_items` items, or
/// once they reach `max_bytes` (an item bigger than that goes alone). Between fleetd and its nodes
/// one message carries many attempts or outcomes instead of one each.
template <class T>
class message_batch {
public:
  message_batch(size_t max_items, size_t max_bytes) : max_items_(max_items), max_bytes_(max_bytes) {}

  /// Adds an item of about `bytes`; true if the batch is full now and should be sent.
  bool add(T item, size_t bytes) {
    items_.push_back(std::move(item));
    bytes_ += bytes;
    return full();
  }

  bool full() const { return items_.size() >= max_items_ || bytes_ >= max_bytes_; }
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }

  /// Everything collected, in the order it was added; the batch is empty again.
  std::vector<T> take() {
    bytes_ = 0;
    return std::exchange(items_, {});
  }

private:
  size_t max_items_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  std::vector<T> items_;
};

} // namespace fleet
