// Cron expressions and time zones as a user types them (fleetctl schedule add --cron, the HTTP API,
// [schedule.NAME]): parse never crashes; what parses has a next slot strictly later than the time
// asked about, in several zones with daylight saving time, and writes itself back as it reads.

#include "fleet/cron.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  (void) fleet::load_zone(std::string{text.substr(0, 80)});
  auto expr = fleet::cron_expr::parse(text);
  if (!expr)
    return 0;
  auto again = fleet::cron_expr::parse(expr->text());
  if (!again || again->text() != expr->text())
    std::abort();
  static const cctz::time_zone zones[] = {cctz::utc_time_zone(), *fleet::load_zone("Europe/Berlin"),
                                          *fleet::load_zone("Australia/Lord_Howe"),
                                          *fleet::load_zone("America/Santiago")};
  // Around DST changes of 2026 and a leap day.
  static const int64_t times[] = {1'774'744'200'000, 1'792'274'400'000, 1'772'236'800'000, 1'709'164'800'000};
  for (const auto& zone : zones)
    for (auto t : times) {
      auto next = expr->next_after(t, zone);
      if (next && *next <= t)
        std::abort();
      if (next && *next % 60'000 != 0 && zone.name() == "UTC")
        std::abort();
    }
  return 0;
}
