#include "fleet/cron.hpp"
#include "fleet/schedule.hpp"
#include "fleet/time_text.hpp"

#include "fleetd/error.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace fleet;

namespace {

int64_t at(const char* rfc3339) {
  auto ms = parse_rfc3339_ms(rfc3339);
  REQUIRE_MESSAGE(ms, rfc3339);
  return *ms;
}

cron_expr cron(const char* text) {
  auto x = cron_expr::parse(text);
  REQUIRE_MESSAGE(x, text);
  return *x;
}

cctz::time_zone zone(const char* name) {
  auto z = load_zone(name);
  REQUIRE_MESSAGE(z, name);
  return *z;
}

/// The next `n` slots after `from`, as UTC RFC 3339 texts.
std::vector<std::string> slots(const cron_expr& x, const cctz::time_zone& z, int64_t from, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    auto next = x.next_after(from, z);
    if (!next)
      break;
    out.push_back(format_rfc3339_ms(*next));
    from = *next;
  }
  return out;
}

const auto utc = cctz::utc_time_zone();

} // namespace

TEST_CASE("cron fields: numbers, ranges, steps, lists and names") {
  auto x = cron("*/20 9-17/4 * * mon-fri");
  CHECK(slots(x, utc, at("2026-12-04T16:50:00Z"), 4)
        == std::vector<std::string>{"2026-12-04T17:00:00.000Z", "2026-12-04T17:20:00.000Z", "2026-12-04T17:40:00.000Z",
                                    "2026-12-07T09:00:00.000Z"}); // Friday, then Monday
  CHECK(slots(cron("5,10 0 1 JAN,jul *"), utc, at("2026-06-15T00:00:00Z"), 3)
        == std::vector<std::string>{"2026-07-01T00:05:00.000Z", "2026-07-01T00:10:00.000Z", "2027-01-01T00:05:00.000Z"});
  // "a/n" runs from a to the end of the field.
  CHECK(slots(cron("50/5 3 * * *"), utc, at("2026-12-01T00:00:00Z"), 3)
        == std::vector<std::string>{"2026-12-01T03:50:00.000Z", "2026-12-01T03:55:00.000Z", "2026-12-02T03:50:00.000Z"});
  // Sunday is 0 and 7.
  CHECK(slots(cron("0 12 * * 7"), utc, at("2026-12-01T00:00:00Z"), 1) == slots(cron("0 12 * * 0"), utc, at("2026-12-01T00:00:00Z"), 1));
  CHECK(slots(cron("0 12 * * 7"), utc, at("2026-12-01T00:00:00Z"), 1)
        == std::vector<std::string>{"2026-12-06T12:00:00.000Z"});
}

TEST_CASE("cron macros stand for their expressions") {
  CHECK(cron("@hourly").text() == "0 * * * *");
  CHECK(cron("@daily").text() == "0 0 * * *");
  CHECK(cron("@midnight").text() == "0 0 * * *");
  CHECK(cron("@weekly").text() == "0 0 * * 0");
  CHECK(cron("@monthly").text() == "0 0 1 * *");
  CHECK(cron("@YEARLY").text() == "0 0 1 1 *");
  CHECK(cron("  1   2 3 4 5 ").text() == "1 2 3 4 5");
}

TEST_CASE("with both day fields restricted a day matches either, with one starred both") {
  // The 13th and every Friday.
  CHECK(slots(cron("0 0 13 * fri"), utc, at("2026-11-01T00:00:00Z"), 4)
        == std::vector<std::string>{"2026-11-06T00:00:00.000Z", "2026-11-13T00:00:00.000Z", "2026-11-20T00:00:00.000Z",
                                    "2026-11-27T00:00:00.000Z"});
  // "*/2" in day-of-month counts as starred (Vixie cron): only Fridays on odd days.
  CHECK(slots(cron("0 0 */2 * fri"), utc, at("2026-11-01T00:00:00Z"), 2)
        == std::vector<std::string>{"2026-11-13T00:00:00.000Z", "2026-11-27T00:00:00.000Z"});
}

TEST_CASE("February 29 fires in leap years only, and a day no month has is refused") {
  CHECK(slots(cron("0 0 29 2 *"), utc, at("2026-12-01T00:00:00Z"), 2)
        == std::vector<std::string>{"2028-02-29T00:00:00.000Z", "2032-02-29T00:00:00.000Z"});
  CHECK(slots(cron("0 0 31 * *"), utc, at("2026-04-01T00:00:00Z"), 2)
        == std::vector<std::string>{"2026-05-31T00:00:00.000Z", "2026-07-31T00:00:00.000Z"});
  for (const char* never : {"0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 feb *"}) {
    auto x = cron_expr::parse(never);
    REQUIRE_MESSAGE(!x, never);
    CHECK(error_text(x.error()).find("never fires") != std::string::npos);
  }
}

TEST_CASE("a bad cron expression is refused with the field and the reason") {
  struct bad_case {
    const char* expr;
    const char* says;
  };
  for (auto [expr, says] : std::initializer_list<bad_case>{
         {"", "0 fields"},
         {"* * * *", "4 fields"},
         {"0 * * * * *", "6 fields"},
         {"60 * * * *", "minute field: 60 is out of range 0-59"},
         {"* 24 * * *", "hour field: 24 is out of range"},
         {"* * 0 * *", "day-of-month field: 0 is out of range 1-31"},
         {"* * * 13 *", "month field: 13 is out of range 1-12"},
         {"* * * * 8", "day-of-week field: 8 is out of range 0-7"},
         {"5-1 * * * *", "must not run backwards"},
         {"*/0 * * * *", "a step of 0"},
         {"*/x * * * *", "a step must be a positive number"},
         {"1,,2 * * * *", "an empty list item"},
         {"* * * foo *", "neither a number nor a name"},
         {"* * L * *", "\"L\" is not a number"},
         {"* * ? * *", "not supported"},
         {"* * * * 1#2", "not supported"},
         {"@reboot", "unknown macro"},
         {"-1 * * * *", "a value is missing"},
         {"1- * * * *", "a value is missing"},
         {"99999999999 * * * *", "out of range"},
       }) {
    auto x = cron_expr::parse(expr);
    REQUIRE_MESSAGE(!x, expr);
    CHECK(x.error() == errc::invalid_argument);
    CHECK_MESSAGE(error_text(x.error()).find(says) != std::string::npos, expr, " said: ", error_text(x.error()));
  }
}

TEST_CASE("a cron expression runs in its time zone") {
  auto berlin = zone("Europe/Berlin");
  // 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
  CHECK(slots(cron("0 9 * * *"), berlin, at("2026-12-01T12:00:00Z"), 1)
        == std::vector<std::string>{"2026-12-02T08:00:00.000Z"});
  CHECK(slots(cron("0 9 * * *"), berlin, at("2026-07-01T12:00:00Z"), 1)
        == std::vector<std::string>{"2026-07-02T07:00:00.000Z"});
}

TEST_CASE("DST gap: a fixed time in the gap runs once at the end of the gap, wildcard slots in it do not exist") {
  auto berlin = zone("Europe/Berlin"); // 2027-03-28 02:00 local -> 03:00 (01:00 UTC)
  CHECK(slots(cron("30 2 * * *"), berlin, at("2027-03-26T12:00:00Z"), 3)
        == std::vector<std::string>{"2027-03-27T01:30:00.000Z", "2027-03-28T01:00:00.000Z", // 03:00 local, once
                                    "2027-03-29T00:30:00.000Z"});
  // Every 30 minutes: 01:30 local (00:30 UTC), no 02:00 or 02:30, then 03:00 local (01:00 UTC).
  CHECK(slots(cron("*/30 * * * *"), berlin, at("2027-03-28T00:10:00Z"), 3)
        == std::vector<std::string>{"2027-03-28T00:30:00.000Z", "2027-03-28T01:00:00.000Z", "2027-03-28T01:30:00.000Z"});
}

TEST_CASE("DST repeat: a fixed time runs at its first occurrence, a wildcard one at both") {
  auto berlin = zone("Europe/Berlin"); // 2026-10-25 03:00 local -> 02:00: 02:00-02:59 twice
  CHECK(slots(cron("30 2 * * *"), berlin, at("2026-10-24T12:00:00Z"), 2)
        == std::vector<std::string>{"2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"});
  // Hourly at :30: 01:30 (23:30 UTC), 02:30 first (00:30 UTC), 02:30 second (01:30 UTC), 03:30 (02:30 UTC).
  CHECK(slots(cron("30 * * * *"), berlin, at("2026-10-24T23:00:00Z"), 4)
        == std::vector<std::string>{"2026-10-24T23:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-25T01:30:00.000Z",
                                    "2026-10-25T02:30:00.000Z"});
  // From inside the second occurrence, the rest of it still comes.
  CHECK(slots(cron("*/20 * * * *"), berlin, at("2026-10-25T01:05:00Z"), 3)
        == std::vector<std::string>{"2026-10-25T01:20:00.000Z", "2026-10-25T01:40:00.000Z", "2026-10-25T02:00:00.000Z"});
}

TEST_CASE("a time zone must be an IANA name") {
  CHECK(load_zone("UTC"));
  CHECK(load_zone("America/New_York"));
  for (const char* bad : {"", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe/../UTC", "Europe/Berlin\n",
                          "a b"}) {
    auto z = load_zone(bad);
    CHECK_MESSAGE(!z, bad);
  }
}

TEST_CASE("an interval's slots are multiples of it since the epoch") {
  auto t = schedule_timing::of({}, {}, 30'000);
  REQUIRE(t);
  CHECK(t->next_after(at("2026-12-01T10:00:10Z")) == at("2026-12-01T10:00:30Z"));
  CHECK(t->next_after(at("2026-12-01T10:00:30Z")) == at("2026-12-01T10:01:00Z"));
  CHECK(t->latest_in(at("2026-12-01T09:00:00Z"), at("2026-12-01T10:00:45Z")) == at("2026-12-01T10:00:30Z"));
  CHECK(!t->latest_in(at("2026-12-01T10:00:30Z"), at("2026-12-01T10:00:45Z")));
  CHECK(t->count_in(at("2026-12-01T10:00:00Z"), at("2026-12-01T10:02:00Z")) == 4);
  CHECK(!schedule_timing::of({}, {}, 999));
  CHECK(!schedule_timing::of({}, "Europe/Berlin", 60'000));
  CHECK(!schedule_timing::of("* * * * *", {}, 60'000));
  CHECK(!schedule_timing::of({}, {}, 0));
}

TEST_CASE("slot plans: a due slot fires, late ones are missed unless missed = once") {
  auto t = schedule_timing::of("*/5 * * * *", {}, 0);
  REQUIRE(t);
  auto created = at("2026-12-01T10:01:00Z");
  // Nothing due yet.
  auto p = plan_slots(*t, created, at("2026-12-01T10:04:59Z"), false);
  CHECK(!p.fire);
  CHECK(p.next == at("2026-12-01T10:05:00Z"));
  CHECK(p.handled_until == created);
  // On time (or a little late): fires.
  p = plan_slots(*t, created, at("2026-12-01T10:05:30Z"), false);
  CHECK(p.fire == at("2026-12-01T10:05:00Z"));
  CHECK(p.missed == 0);
  CHECK(p.handled_until == at("2026-12-01T10:05:00Z"));
  CHECK(p.next == at("2026-12-01T10:10:00Z"));
  // Down for an hour: the twelve slots are missed with skip...
  p = plan_slots(*t, created, at("2026-12-01T11:02:00Z"), false);
  CHECK(!p.fire);
  CHECK(p.missed == 12);
  CHECK(p.missed_first == at("2026-12-01T10:05:00Z"));
  CHECK(p.missed_last == at("2026-12-01T11:00:00Z"));
  CHECK(p.handled_until == at("2026-12-01T11:00:00Z"));
  CHECK(p.next == at("2026-12-01T11:05:00Z"));
  // ...and the latest runs once with once.
  p = plan_slots(*t, created, at("2026-12-01T11:02:00Z"), true);
  CHECK(p.fire == at("2026-12-01T11:00:00Z"));
  CHECK(p.missed == 11);
  CHECK(p.missed_last == at("2026-12-01T10:55:00Z"));
  // Back within the grace: the latest fires, the others are missed.
  p = plan_slots(*t, created, at("2026-12-01T10:10:20Z"), false);
  CHECK(p.fire == at("2026-12-01T10:10:00Z"));
  CHECK(p.missed == 1);
  // The clock went back behind what was handled: nothing fires again.
  p = plan_slots(*t, at("2026-12-01T10:10:00Z"), at("2026-12-01T10:06:00Z"), true);
  CHECK(!p.fire);
  CHECK(p.next == at("2026-12-01T10:15:00Z"));
}

TEST_CASE("a rare cron expression's latest slot is found far back") {
  auto t = schedule_timing::of("0 0 1 1 *", {}, 0);
  REQUIRE(t);
  CHECK(t->latest_in(at("2020-06-01T00:00:00Z"), at("2026-12-01T00:00:00Z")) == at("2026-01-01T00:00:00Z"));
  CHECK(!t->latest_in(at("2026-01-01T00:00:00Z"), at("2026-12-01T00:00:00Z")));
}

TEST_CASE("schedule definitions are checked before anything is stored") {
  schedule_spec ok{"nightly-report", "0 3 * * *", "Europe/Berlin", 0, {task{"a", "noop"}}, "skip", true};
  CHECK(validate_schedule(ok));
  auto with = [&](auto change) {
    auto spec = ok;
    change(spec);
    auto checked = validate_schedule(spec);
    REQUIRE(!checked);
    return error_text(checked.error());
  };
  CHECK(with([](schedule_spec& s) { s.name = ""; }).find("schedule name") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.name = "-x"; }).find("schedule name") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.name = "a b"; }).find("schedule name") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.name = std::string(65, 'a'); }).find("schedule name") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.name = "caf\xc3"; }).find("schedule name") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.cron = "61 * * * *"; }).find("out of range") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.time_zone = "Nowhere/City"; }).find("time zone") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.missed = "all"; }).find("skip or once") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.tasks.clear(); }).find("no task") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.tasks[0].run_at = 1; }).find("delay_ms") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.every_ms = 60'000; }).find("not both") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.tasks.resize(max_template_tasks + 1, task{"t", "noop"}); })
          .find("more than a schedule's 10000") != std::string::npos);
  CHECK(with([](schedule_spec& s) { s.tasks[0].data = "\"" + std::string(max_template_bytes, 'x') + "\""; })
          .find("more than a schedule's 1024 KiB") != std::string::npos);
}

TEST_CASE("a template is stored with its data exactly as submitted and read back") {
  std::vector<task> tasks{task{"a", "noop", R"({"n":12345678901234567890123})", 3, 0, 5000}, task{"b\"q", "echo", "[1,2]"}};
  auto text = encode_template(tasks);
  auto back = decode_template(text, "s");
  REQUIRE(back);
  CHECK(*back == tasks);
}

TEST_CASE("slot keys name the schedule and the slot") {
  CHECK(slot_key("nightly", at("2026-12-02T03:00:00Z")) == "schedule:nightly@2026-12-02T03:00:00.000Z");
  CHECK(run_key("nightly", at("2026-12-02T03:00:01Z")) == "schedule:nightly@run:2026-12-02T03:00:01.000Z");
}
