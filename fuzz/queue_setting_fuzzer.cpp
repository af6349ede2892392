// Queue definitions as people type them (fleetctl queue set NAME key=value ..., the HTTP API,
// [queue.NAME]): lines of `key=value`. Nothing crashes; a rate that parses writes itself back as
// it reads; a setting that is accepted stays within the bounds queue_settings.hpp names.

#include "fleet/queue_settings.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  (void) fleet::queue_name_problem(text.substr(0, 100));
  (void) fleet::group_problem(text.substr(0, 300));
  if (auto rate = fleet::parse_rate(text)) {
    auto again = fleet::parse_rate(fleet::rate_text(rate->first, rate->second));
    if (!again || *again != *rate || rate->first < 0 || rate->first > fleet::max_rate_count
        || rate->second < 0 || rate->second > fleet::max_rate_interval_ms)
      std::abort();
  }
  fleet::queue_change change;
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    auto line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (auto eq = line.find('='); eq != std::string_view::npos)
      (void) fleet::apply_queue_setting(line.substr(0, eq), line.substr(eq + 1), change);
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }
  auto limits = fleet::apply(fleet::queue_limits{}, change);
  if (limits.weight < 0 || limits.weight > fleet::max_queue_weight || limits.rate_count < 0
      || limits.rate_count > fleet::max_rate_count)
    std::abort();
  return 0;
}
