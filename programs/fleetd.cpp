// fleetd: the fleet manager daemon, with the built-in task types (programs/fleetd_main.cpp).

#include "fleetd/daemon.hpp"

int main(int argc, char** argv) {
  return fleet::run_daemon(argc, argv);
}
