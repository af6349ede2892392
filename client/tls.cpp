#include "fleetd/tls.hpp"

#include "fleetd/error.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/settings.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <memory>

namespace fleet {

namespace {

std::string openssl_reason() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out = buf; // the last one is the most specific
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

caf::error tls_error(const std::string& text) {
  return caf::make_error(errc::invalid_config, text);
}

} // namespace

caf::error check_tls_files(const tls_files& files, const std::string& prefix) {
  if (!files.any())
    return caf::none;
  if (files.cert.empty() || files.key.empty() || files.ca.empty())
    return tls_error(fmt::format("TLS needs all of {0}cert, {0}key and {0}ca (mutual authentication)", prefix));
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx)
    return tls_error("cannot create an OpenSSL context: " + openssl_reason());
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert.c_str()) != 1)
    return tls_error(fmt::format("{}cert {}: not a readable PEM certificate ({})", prefix, files.cert,
                                 openssl_reason()));
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    auto reason = openssl_reason();
    if (reason.find("key values mismatch") != std::string::npos)
      return tls_error(fmt::format("{}key {} does not belong to the certificate {}", prefix, files.key, files.cert));
    return tls_error(fmt::format("{}key {}: not a readable PEM private key without a passphrase ({})", prefix,
                                 files.key, reason));
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return tls_error(fmt::format("{}key {} does not belong to the certificate {}", prefix, files.key, files.cert));
  if (SSL_CTX_load_verify_locations(ctx.get(), files.ca.c_str(), nullptr) != 1)
    return tls_error(fmt::format("{}ca {}: not a readable PEM CA certificate ({})", prefix, files.ca,
                                 openssl_reason()));
  return caf::none;
}

caf::error enable_tls(caf::actor_system_config& cfg, const tls_files& files) {
  if (!openssl_error_queue_guarded())
    return tls_error("TLS is unsafe in this process: its OpenSSL reads and writes do not go through the error "
                     "queue guard (link fleet_client statically into the executable)");
  cfg.openssl_certificate = files.cert;
  cfg.openssl_key = files.key;
  cfg.openssl_cafile = files.ca;
  caf::put(cfg.content, "fleet-tls.server-name", files.server_name);
  cfg.load<caf::openssl::manager>();
  return caf::none;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost")
    return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

} // namespace fleet
