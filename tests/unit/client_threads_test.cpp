// A client that only talks to fleetd runs one scheduler thread that waits, unless its program
// chose otherwise.

#include "fleetd/client.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/settings.hpp>

#include <doctest/doctest.h>

using namespace fleet;

TEST_CASE("a client on one thread runs one work-sharing scheduler thread") {
  caf::actor_system_config cfg;
  configure_client(cfg);
  run_client_on_one_thread(cfg);
  CHECK(caf::get<caf::atom_value>(cfg.content, "scheduler.policy") == caf::atom("sharing"));
  CHECK(caf::get<int64_t>(cfg.content, "scheduler.max-threads") == 1);
  caf::actor_system sys{cfg};
  CHECK(sys.scheduler().num_workers() == 1);
}

TEST_CASE("a client's own scheduler settings are kept") {
  caf::actor_system_config cfg;
  configure_client(cfg);
  caf::put(cfg.content, "scheduler.max-threads", 3);
  caf::put(cfg.content, "scheduler.policy", caf::atom("stealing"));
  run_client_on_one_thread(cfg);
  CHECK(caf::get<caf::atom_value>(cfg.content, "scheduler.policy") == caf::atom("stealing"));
  CHECK(caf::get<int64_t>(cfg.content, "scheduler.max-threads") == 3);
  caf::actor_system sys{cfg};
  CHECK(sys.scheduler().num_workers() == 3);
}
