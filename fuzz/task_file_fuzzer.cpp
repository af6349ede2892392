// libFuzzer target: task files as fleetctl reads them (JSON Lines in chunks, or a JSON array),
// then the submit-time validation fleetd applies to what came out.

#include "fleet/dependency_graph.hpp"
#include "fleet/task_file.hpp"
#include "fleet/validation.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  // The first byte picks the chunk size, so that chunk boundaries land everywhere.
  auto chunk = static_cast<size_t>(data[0] % 7) + 1;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::istringstream in{text};
  fleet::task_stream stream{in, "fuzz.jsonl"};
  size_t total = 0;
  while (!stream.done()) {
    auto tasks = stream.next(chunk);
    if (!tasks)
      return 0; // a clear error is the expected outcome for most inputs
    if (tasks->size() > chunk)
      std::abort(); // next() must respect its bound
    total += tasks->size();
    for (const auto& t : *tasks) {
      if (t.type.empty() || t.id.empty())
        std::abort(); // the reader promised a type and an id for every task
      if (!nlohmann::json::accept(t.data))
        std::abort(); // data is passed on as written, and what is written must be JSON
    }
    fleet::validate_batch(*tasks, {}); // must not crash, whatever it decides
    fleet::validate_dependencies(*tasks); // nor must the graph check
    if (tasks->empty())
      break;
  }
  // Reading everything at once gives the same tasks.
  auto whole = fleet::parse_task_file(text, "fuzz.jsonl");
  if (whole && total != 0 && whole->size() != total)
    std::abort();
  return 0;
}
