// libFuzzer target: a worker process's stdout lines (issue 19). Any bytes are refused or read;
// what is read has an id, an outcome whose result is JSON, or a progress within [0, 1], and texts
// that are UTF-8 and cut to the limit.

#include "fleet/text.hpp"
#include "fleet/worker_protocol.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto reply = fleet::parse_worker_line(line);
  if (!reply)
    return 0;
  if (!fleet::is_utf8(reply->id) || !fleet::is_utf8(reply->note) || !fleet::is_utf8(reply->outcome.error))
    std::abort();
  if (reply->outcome.error.size() > fleet::max_worker_text + 3 || reply->note.size() > fleet::max_worker_text + 3)
    std::abort();
  if (reply->what == fleet::worker_reply::kind::progress) {
    if (!(reply->progress >= 0.0 && reply->progress <= 1.0))
      std::abort();
  } else if (reply->outcome.success && nlohmann::json::parse(reply->outcome.result, nullptr, false).is_discarded()) {
    std::abort();
  }
  return 0;
}
