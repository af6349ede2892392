// fleetd: the fleet manager daemon (programs/fleetd_main.cpp).

#include "programs/fleetd_main.hpp"

int main(int argc, char** argv) {
  return fleet::fleetd_main(argc, argv);
}
