// CAF 0.17.6's openssl session asks SSL_get_error() after each SSL_read/SSL_write/SSL_accept/
// SSL_connect without clearing OpenSSL's per-thread error queue first, and never empties it after a
// failure. SSL_get_error() reports SSL_ERROR_SSL whenever that queue holds anything, so the errors
// that one peer's failed handshake (no certificate, a foreign CA) leaves on the multiplexer thread
// make the next "would block" of any other connection on that thread look fatal: one
// unauthenticated connection attempt dropped every joined node and refused the next good client
// (found by CI: a fleet-node kept being dropped once a second, at each retry of a node without a
// certificate).
//
// The same hook notes, once a connection's handshake is done, the subject of the certificate the
// peer presented, by the peer's address: CAF does not tell its actors, and the audit wants it
// (tls_peer_subject).
//
// OpenSSL's rule (SSL_get_error(3)) is that the queue must be empty before each I/O call. CAF's
// calls cannot be changed here, so these definitions interpose on them: the dynamic linker binds
// libcaf_openssl's references to the executable's definitions, which clear the queue and call
// libssl's through dlsym(RTLD_NEXT). Our own OpenSSL calls pass through them too, unchanged.
//
// Two more for what CAF's sessions cannot be told: TLSv1_2_method, with which CAF makes every
// context, answers TLS_method (TLS 1.3 where both sides have it, never below 1.2: SSL_new sets
// the floor), and SSL_new gives a client's session the name that the server's certificate must
// carry (tls_transport sets it for the connect on its thread: expect_server_name).

#include "fleetd/tls.hpp"

#include "fleet/bounded_map.hpp"

#define OPENSSL_SUPPRESS_DEPRECATED // TLSv1_2_method is deprecated: it is what CAF calls
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <openssl/x509.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

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

/// What a TLS peer's certificate says of it.
struct peer_certificate {
  std::string subject;     ///< "/CN=fleetctl"
  std::string common_name; ///< "fleetctl"; empty if the subject has none, or several
};

/// The peers' certificates by "host:port", the newest 4096.
struct peer_subjects {
  std::mutex mtx;
  fleet::bounded_map<std::string, peer_certificate> by_address{4096};
};

peer_subjects& subjects() {
  static peer_subjects s;
  return s;
}

std::string peer_address(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return {};
  char host[INET6_ADDRSTRLEN] = {};
  uint16_t port = 0;
  if (addr.ss_family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    port = ntohs(v4->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    port = ntohs(v6->sin6_port);
  } else {
    return {};
  }
  return std::string{host} + ":" + std::to_string(port);
}

/// The subject's common name as UTF-8, if it has exactly one and it holds no NUL; else empty.
std::string only_common_name(X509_NAME* name) {
  auto at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (at < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, at) >= 0)
    return {};
  unsigned char* utf8 = nullptr;
  auto n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at)));
  if (n < 0)
    return {};
  std::string out{reinterpret_cast<const char*>(utf8), static_cast<size_t>(n)};
  OPENSSL_free(utf8);
  return out.find('\0') == std::string::npos ? out : std::string{};
}

/// Notes the peer's certificate subject the first time a finished handshake is seen on `ssl`.
void note_peer_subject(SSL* ssl) {
  static const int noted_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  if (noted_index < 0 || !SSL_is_init_finished(ssl) || SSL_get_ex_data(ssl, noted_index) != nullptr)
    return;
  SSL_set_ex_data(ssl, noted_index, ssl); // any non-null value: noted
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr)
    return;
  std::string subject;
  std::string common_name;
  if (auto* name = X509_get_subject_name(cert)) {
    char buf[512];
    if (X509_NAME_oneline(name, buf, sizeof buf) != nullptr)
      subject = buf;
    common_name = only_common_name(name);
  }
  X509_free(cert);
  auto address = peer_address(SSL_get_fd(ssl));
  if (address.empty() || subject.empty())
    return;
  auto& s = subjects();
  std::lock_guard guard{s.mtx};
  s.by_address[address] = peer_certificate{subject, common_name};
  ERR_clear_error(); // nothing above may leave an error for CAF's next SSL_get_error
}

/// The name the next client session made on this thread must find in the server's certificate.
thread_local std::string expected_server_name;

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

} // namespace

extern "C" {

const SSL_METHOD* TLSv1_2_method(void) {
  return TLS_method();
}

SSL* SSL_new(SSL_CTX* ctx) {
  static const auto next = libssl_function<SSL* (*)(SSL_CTX*)>("SSL_new");
  auto* ssl = next(ctx);
  if (ssl == nullptr)
    return nullptr;
  if (SSL_set_min_proto_version(ssl, TLS1_2_VERSION) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  if (!expected_server_name.empty()) {
    const auto& name = expected_server_name;
    auto ok = is_ip_literal(name) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1
                                  : SSL_set1_host(ssl, name.c_str()) == 1
                                      && SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
    if (!ok) {
      SSL_free(ssl);
      return nullptr;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  }
  return ssl;
}

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto next = libssl_function<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  auto n = next(ssl, buf, num);
  if (n > 0)
    note_peer_subject(ssl);
  return n;
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto next = libssl_function<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static const auto next = libssl_function<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  auto rc = next(ssl);
  if (rc > 0)
    note_peer_subject(ssl);
  return rc;
}

int SSL_connect(SSL* ssl) {
  static const auto next = libssl_function<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return next(ssl);
}

} // extern "C"

namespace fleet {

std::string tls_peer_subject(const std::string& address) {
  auto& s = subjects();
  std::lock_guard guard{s.mtx};
  const auto* cert = s.by_address.find(address);
  return cert == nullptr ? std::string{} : cert->subject;
}

std::string tls_peer_common_name(const std::string& address) {
  auto& s = subjects();
  std::lock_guard guard{s.mtx};
  const auto* cert = s.by_address.find(address);
  return cert == nullptr ? std::string{} : cert->common_name;
}

void expect_server_name(const std::string& name) {
  expected_server_name = name;
}

bool openssl_error_queue_guarded() {
  // The guard works only if the process-wide lookup (the one libcaf_openssl's calls use) finds
  // these definitions and not libssl's.
  return dlsym(RTLD_DEFAULT, "SSL_read") == reinterpret_cast<void*>(&SSL_read)
         && dlsym(RTLD_DEFAULT, "SSL_write") == reinterpret_cast<void*>(&SSL_write)
         && dlsym(RTLD_DEFAULT, "SSL_accept") == reinterpret_cast<void*>(&SSL_accept)
         && dlsym(RTLD_DEFAULT, "SSL_connect") == reinterpret_cast<void*>(&SSL_connect)
         && dlsym(RTLD_DEFAULT, "SSL_new") == reinterpret_cast<void*>(&SSL_new)
         && dlsym(RTLD_DEFAULT, "TLSv1_2_method") == reinterpret_cast<void*>(&TLSv1_2_method);
}

} // namespace fleet
