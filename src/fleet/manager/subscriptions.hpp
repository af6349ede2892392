#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fleet {

/// Who waits to hear that a batch finished: one-shot subscriptions per batch, and standing ones
/// for every batch. `Key` tells subscribers apart (the manager: an actor's address, which a down
/// message names); `Handle` is what a notification goes to. Knows nothing of actors: the manager
/// monitors a subscriber at its first subscription (`add` says when) and demonitors it after its
/// last (`finish` says whom).
///
/// Every subscriber belongs to a `Peer` (the manager: a CAF node, the client's process), and a
/// peer may hold at most `max_per_peer` of them, so that one client cannot take every subscription
/// from the others.
///
/// Invariant: `subscriptions()` is the number of entries in all lists; every key in a list is a
/// holder, and a holder's count is its number of entries; a peer's count is the sum of its holders'.
template <class Key, class Handle, class Peer = Key>
class subscription_book {
public:
  /// The most subscriptions held at once, so that a client cannot grow fleetd's memory without end.
  static constexpr size_t max_subscriptions = 10'000;
  /// The most one peer holds at once.
  static constexpr size_t max_per_peer = 1'000;

  struct served {
    std::vector<Handle> notify;   ///< to be told, one-shot subscribers first
    std::vector<Handle> released; ///< subscribers whose last subscription this was
  };

  bool full() const { return subscriptions_ >= max_subscriptions; }

  /// Whether `peer` holds its share already.
  bool full(const Peer& peer) const { return held_by(peer) >= max_per_peer; }

  /// How many subscriptions the subscribers of `peer` hold.
  size_t held_by(const Peer& peer) const {
    auto i = by_peer_.find(peer);
    return i == by_peer_.end() ? 0 : i->second;
  }

  /// Subscribes `who` (of `peer`) to `batch_id`, or to every batch if it is empty. True if this is
  /// the first subscription of `who` (the caller starts watching it).
  bool add(const std::string& batch_id, const Key& key, const Peer& peer, Handle who) {
    if (batch_id.empty())
      standing_.emplace_back(key, std::move(who));
    else
      by_batch_[batch_id].emplace_back(key, std::move(who));
    ++subscriptions_;
    ++by_peer_[peer];
    auto& holder = holders_[key];
    if (holder.count++ == 0) {
      holder.peer = peer;
      return true;
    }
    return false;
  }

  /// Batch `batch_id` finished: its one-shot subscribers are served and forgotten, the standing ones
  /// are told too.
  served finish(const std::string& batch_id) {
    served out;
    if (auto i = by_batch_.find(batch_id); i != by_batch_.end()) {
      auto entries = std::move(i->second);
      by_batch_.erase(i);
      for (auto& [key, who] : entries) {
        --subscriptions_;
        auto holder = holders_.find(key);
        if (holder != holders_.end()) {
          release_peer(holder->second.peer, 1);
          if (--holder->second.count == 0) {
            holders_.erase(holder);
            out.released.push_back(who);
          }
        }
        out.notify.push_back(std::move(who));
      }
    }
    for (const auto& entry : standing_)
      out.notify.push_back(entry.second);
    return out;
  }

  /// A subscriber went away: forgets all its subscriptions. False if it had none.
  bool forget(const Key& key) {
    auto holder = holders_.find(key);
    if (holder == holders_.end())
      return false;
    subscriptions_ -= holder->second.count;
    release_peer(holder->second.peer, holder->second.count);
    holders_.erase(holder);
    auto held = [&](const std::pair<Key, Handle>& entry) { return entry.first == key; };
    std::erase_if(standing_, held);
    for (auto i = by_batch_.begin(); i != by_batch_.end();) {
      std::erase_if(i->second, held);
      i = i->second.empty() ? by_batch_.erase(i) : std::next(i);
    }
    return true;
  }

  size_t subscriptions() const { return subscriptions_; }
  /// How many distinct subscribers hold subscriptions.
  size_t subscribers() const { return holders_.size(); }
  /// Batches with one-shot subscribers.
  size_t batches() const { return by_batch_.size(); }

private:
  struct holder {
    size_t count = 0;
    Peer peer;
  };

  void release_peer(const Peer& peer, size_t n) {
    auto i = by_peer_.find(peer);
    if (i == by_peer_.end())
      return;
    i->second -= std::min(i->second, n);
    if (i->second == 0)
      by_peer_.erase(i);
  }

  std::unordered_map<std::string, std::vector<std::pair<Key, Handle>>> by_batch_;
  std::vector<std::pair<Key, Handle>> standing_;
  std::unordered_map<Key, holder> holders_;
  std::unordered_map<Peer, size_t> by_peer_;
  size_t subscriptions_ = 0;
};

} // namespace fleet
