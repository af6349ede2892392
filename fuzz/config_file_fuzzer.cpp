// libFuzzer target: fleetd's config file as an operator writes it ([fleet], [schedule.NAME],
// [queue.NAME], [pool.NAME], [exec]), through CAF 0.17's INI parser and fleetd's strict checks,
// as `fleetd --config-file` reads it. Never a crash; a refusal says why; a file that is accepted
// gives schedules that either pass the check fleetd makes at start or fail it with a reason, whose
// template survives the way it is stored, whose next slot lies ahead, and whose slot plan fires
// at most one slot that is due.

#include "fleetd/error.hpp"
#include "fleet/daemon_config.hpp"
#include "fleet/schedule.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The file lives in memory; fleetd opens it by name, as it would a file on disk.
  static const int fd = ::memfd_create("fleetd.ini", 0);
  if (fd < 0 || ::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
    std::abort();
  std::string program = "fleetd";
  std::string file = "--config-file=/proc/self/fd/" + std::to_string(fd);
  char* argv[] = {program.data(), file.data(), nullptr};
  fleet::daemon_config cfg;
  if (auto err = cfg.load_options(2, argv)) {
    if (fleet::error_text(err).empty())
      std::abort();
    return 0;
  }
  constexpr int64_t now = 1'796'000'000'000; // 2026-12-01
  for (const auto& spec : cfg.options.schedules) {
    if (spec.name.empty() || spec.tasks.empty())
      std::abort();
    auto timing = fleet::validate_schedule(spec);
    if (!timing) {
      if (fleet::error_text(timing.error()).empty())
        std::abort();
      continue;
    }
    auto stored = fleet::decode_template(fleet::encode_template(spec.tasks), spec.name);
    if (!stored || *stored != spec.tasks)
      std::abort();
    if (auto next = timing->next_after(now); next && *next <= now)
      std::abort();
    auto plan = fleet::plan_slots(*timing, now - 3'600'000, now, spec.missed == "once");
    if (plan.fire && (*plan.fire > now || *plan.fire <= now - 3'600'000))
      std::abort();
    if (plan.next && *plan.next <= plan.handled_until)
      std::abort();
  }
  return 0;
}
