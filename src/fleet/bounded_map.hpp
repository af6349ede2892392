#pragma once

// A map that keeps only its newest keys: what fleetd remembers of peers it cannot ask to leave.

#include <cstddef>
#include <deque>
#include <map>

namespace fleet {

/// At most `capacity` (at least 1) keys; making a new key beyond that forgets the oldest one.
template <class Key, class Value>
class bounded_map {
public:
  explicit bounded_map(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {
  }

  /// The value of `key`, default-made (and the oldest key forgotten, if over capacity) if new.
  Value& operator[](const Key& key) {
    auto [i, fresh] = map_.try_emplace(key);
    if (fresh) {
      order_.push_back(key);
      if (order_.size() > capacity_) {
        map_.erase(order_.front()); // older than `key`: `i` stays valid
        order_.pop_front();
      }
    }
    return i->second;
  }

  /// The value of `key`, or null.
  const Value* find(const Key& key) const {
    auto i = map_.find(key);
    return i == map_.end() ? nullptr : &i->second;
  }

  size_t size() const { return map_.size(); }

private:
  size_t capacity_;
  std::map<Key, Value> map_;
  std::deque<Key> order_;
};

} // namespace fleet
