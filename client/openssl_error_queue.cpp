// CAF 0.17.6's openssl session asks SSL_get_error() after each SSL_read/SSL_write/SSL_accept/
// SSL_connect without clearing OpenSSL's per-thread error queue first, and never empties it after a
// failure. SSL_get_error() reports SSL_ERROR_SSL whenever that queue holds anything, so the errors
// that one peer's failed handshake (no certificate, a foreign CA) leaves on the multiplexer thread
// make the next "would block" of any other connection on that thread look fatal: one
// unauthenticated connection attempt dropped every joined node and refused the next good client
// (found by CI: a fleet-node kept being dropped once a second, at each retry of a node without a
// certificate).
//
// OpenSSL's rule (SSL_get_error(3)) is that the queue must be empty before each I/O call. CAF's
// calls cannot be changed here, so these definitions interpose on them: the dynamic linker binds
// libcaf_openssl's references to the executable's definitions, which clear the queue and call
// libssl's through dlsym(RTLD_NEXT). Our own OpenSSL calls pass through them too, unchanged.

#include "fleetd/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace {

template <class Function>
Function libssl_function(const char* name) {
  auto found = dlsym(RTLD_NEXT, name);
  if (found == nullptr) {
    std::fprintf(stderr, "fleet: %s not found in libssl: %s\n", name, dlerror());
    std::abort();
  }
  return reinterpret_cast<Function>(found);
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto next = libssl_function<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto next = libssl_function<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static const auto next = libssl_function<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return next(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto next = libssl_function<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return next(ssl);
}

} // extern "C"

namespace fleet {

bool openssl_error_queue_guarded() {
  // The guard works only if the process-wide lookup (the one libcaf_openssl's calls use) finds
  // these definitions and not libssl's.
  return dlsym(RTLD_DEFAULT, "SSL_read") == reinterpret_cast<void*>(&SSL_read)
         && dlsym(RTLD_DEFAULT, "SSL_write") == reinterpret_cast<void*>(&SSL_write)
         && dlsym(RTLD_DEFAULT, "SSL_accept") == reinterpret_cast<void*>(&SSL_accept)
         && dlsym(RTLD_DEFAULT, "SSL_connect") == reinterpret_cast<void*>(&SSL_connect);
}

} // namespace fleet
