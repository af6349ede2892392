#include "fleet/time_text.hpp"

#include <doctest/doctest.h>

using namespace fleet;

TEST_CASE("durations are read with their units, compounds included") {
  CHECK(parse_duration_ms("1500ms") == 1500);
  CHECK(parse_duration_ms("30s") == 30'000);
  CHECK(parse_duration_ms("10m") == 600'000);
  CHECK(parse_duration_ms("10min") == 600'000);
  CHECK(parse_duration_ms("1h30m") == 5'400'000);
  CHECK(parse_duration_ms("365d") == 31'536'000'000);
  CHECK(parse_duration_ms("2w") == 1'209'600'000);
  CHECK(parse_duration_ms("0s") == 0);
  CHECK(parse_duration_ms("0") == 0);
}

TEST_CASE("a duration without a unit, with an unknown unit, negative or overflowing is refused") {
  for (const char* bad : {"", "10", "10x", "m", "-5s", "1.5s", " 5s", "5s ", "5 s", "99999999999999999999ms",
                          "9223372036854775807s", "106751991167301d"})
    CHECK_MESSAGE(!parse_duration_ms(bad), bad);
}

TEST_CASE("durations are written back in the shortest exact form") {
  CHECK(format_duration_ms(0) == "0s");
  CHECK(format_duration_ms(90'000) == "1m30s");
  CHECK(format_duration_ms(31'536'000'000) == "365d");
  CHECK(format_duration_ms(1'250) == "1s250ms");
  for (int64_t ms : std::initializer_list<int64_t>{1, 999, 61'001, 86'400'001, 7 * 86'400'000LL})
    CHECK(parse_duration_ms(format_duration_ms(ms)) == ms);
}

TEST_CASE("RFC 3339 times are read with their offset") {
  CHECK(parse_rfc3339_ms("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_rfc3339_ms("2026-12-02T06:30:31Z") == 1'796'193'031'000);
  CHECK(parse_rfc3339_ms("2026-12-02T07:30:31+01:00") == 1'796'193'031'000);
  CHECK(parse_rfc3339_ms("2026-12-02t01:00:31.5-05:30") == 1'796'193'031'500);
  CHECK(parse_rfc3339_ms("2026-12-02 06:30:31.123456z") == 1'796'193'031'123);
  CHECK(parse_rfc3339_ms("2024-02-29T00:00:00Z") == 1'709'164'800'000); // a leap day
  CHECK(parse_rfc3339_ms("1969-12-31T23:59:59Z") == -1000);
}

TEST_CASE("an RFC 3339 time that does not exist or has no offset is refused") {
  for (const char* bad :
       {"", "2026-12-02", "2026-12-02T06:30:31", "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z", "2026-04-31T00:00:00Z", "2026-12-02T24:00:00Z", "2026-12-02T06:60:00Z",
        "2026-12-02T06:30:31+24:00", "2026-12-02T06:30:31+01", "2026-12-02T06:30:31.Z", "2026-12-02T06:30:31Zjunk",
        "26-12-02T06:30:31Z", "2026/12/02T06:30:31Z", "2026-12-02T06:30:31\xff"})
    CHECK_MESSAGE(!parse_rfc3339_ms(bad), bad);
}

TEST_CASE("times are written as RFC 3339 in UTC and read back") {
  CHECK(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339_ms(1'796'193'031'123) == "2026-12-02T06:30:31.123Z");
  CHECK(format_rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
  for (int64_t ms : {int64_t{0}, int64_t{-1}, int64_t{951'782'400'000}, int64_t{4'102'444'800'000}})
    CHECK(parse_rfc3339_ms(format_rfc3339_ms(ms)) == ms);
}
