#include "fleet/ids.hpp"

#include <algorithm>

namespace fleet {

std::string base36(uint64_t value) {
  static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out;
  do {
    out.push_back(digits[value % 36]);
    value /= 36;
  } while (value != 0);
  std::reverse(out.begin(), out.end());
  return out;
}

std::string make_batch_id(int64_t now_ms, std::mt19937_64& rng) {
  std::uniform_int_distribution<uint64_t> dist(0, 2821109907455ULL); // 36^8 - 1
  auto suffix = base36(dist(rng));
  suffix.insert(0, 8 - suffix.size(), '0');
  return "batch-" + base36(static_cast<uint64_t>(now_ms)) + "-" + suffix;
}

std::string make_worker_id(int64_t epoch_ms, uint64_t sequence) {
  return "worker-" + base36(static_cast<uint64_t>(epoch_ms)) + "-" + std::to_string(sequence);
}

} // namespace fleet
