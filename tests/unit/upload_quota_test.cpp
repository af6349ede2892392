#include "fleet/manager/upload_quota.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace fleet;

TEST_CASE("uploads: each peer gets its share, closing or going idle gives a place back") {
  using quota = upload_quota<std::string>;
  quota q{2, 3, 1000};
  using verdict = quota::verdict;
  CHECK(q.open("u1", "a", 0) == verdict::opened);
  CHECK(q.open("u2", "a", 0) == verdict::opened);
  CHECK(q.open("u3", "a", 0) == verdict::peer_full);
  CHECK(q.open("u4", "b", 0) == verdict::opened);
  // Three open in all: a third peer waits even though it holds none.
  CHECK(q.open("u5", "c", 10) == verdict::fleet_full);
  q.close("u1");
  CHECK(q.open("u6", "a", 10) == verdict::opened);
  // A chunk keeps an upload active; one without a chunk for longer than idle_ms frees its place.
  q.touch("u2", 900);
  CHECK(q.open("u7", "a", 1500) == verdict::opened); // u6 (opened at 10, no chunk since) freed its place
  CHECK(q.active("a", 1500) == 2);                   // u2 (touched at 900) and u7
  CHECK(q.open("u8", "a", 1500) == verdict::peer_full);
  // All three places taken (u2, u7, and b's idle u4): the sweep frees b's for c.
  CHECK(q.tracked() == 3);
  CHECK(q.open("u9", "c", 1500) == verdict::opened);
  CHECK(q.tracked() == 3);
  CHECK(q.active("b", 1500) == 0);
}
