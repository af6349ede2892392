// libFuzzer target: a task's type and JSON data as a remote client sends them, through fleetd's
// submit-time validation with the built-in types' data checks (exec with an allow-list).

#include "fleet/builtin_checks.hpp"
#include "fleetd/error.hpp"
#include "fleet/validation.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  static const std::string types[] = {"echo", "sleep", "fail", "exec", "unknown"};
  auto type = types[data[0] % 5];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<fleet::task> tasks{{"t1", type, text, 0}};
  auto allow = std::optional<std::vector<std::string>>{std::vector<std::string>{"uname"}};
  auto check = [&](const fleet::task& t, const nlohmann::json& json) -> caf::error {
    if (t.type == "echo")
      return caf::none;
    if (t.type == "sleep")
      return fleet::check_sleep_data(json);
    if (t.type == "fail")
      return fleet::check_fail_data(json);
    if (t.type == "exec")
      return fleet::check_exec_data(json, allow);
    return caf::make_error(fleet::errc::unknown_task_type, "unknown type");
  };
  fleet::submit_limits limits;
  limits.max_data_bytes = 4096;
  auto err = fleet::validate_batch(tasks, check, limits);
  if (!err && type == "exec") {
    // Accepted exec data must be what the exec worker can run: uname, strings without NUL.
    auto json = nlohmann::json::parse(text);
    if (json["argv"][0].get<std::string>() != "uname")
      std::abort();
  }
  if (!err && text.size() > limits.max_data_bytes)
    std::abort();
  return 0;
}
