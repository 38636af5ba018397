#include "drivers/tls_diagnosis.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>

namespace edge::drivers {
namespace {

// A TCP connection to host:port within `timeout`, or -1.
int ConnectTcp(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  return fd;
}

// The reason of the first error in OpenSSL's queue ("tlsv13 alert certificate required"), and
// clears the queue.
std::string TakeOpenSslReason() {
  std::string reason;
  while (const unsigned long e = ERR_get_error()) {
    if (reason.empty()) {
      const char* r = ERR_reason_error_string(e);
      reason = r != nullptr ? r : "error " + std::to_string(e);
    }
  }
  return reason;
}

// What the broker's TLS alert says about our client certificate, in words; "" if it is not
// about it.
std::string ClientCertificateAlert(const std::string& reason, bool have_cert) {
  if (reason.find("certificate required") != std::string::npos ||
      (!have_cert && reason.find("handshake failure") != std::string::npos)) {
    return "the broker requires a client certificate: set tls.cert_file and tls.key_file";
  }
  if (reason.find("certificate expired") != std::string::npos) {
    return "the broker refused our client certificate (tls.cert_file): it has expired";
  }
  if (reason.find("alert") != std::string::npos &&
      reason.find("certificate") != std::string::npos) {
    return "the broker refused our client certificate (tls.cert_file): " + reason;
  }
  return "";
}

}  // namespace

std::string DiagnoseTlsHandshake(const config::BrokerAddress& address,
                                 const config::TlsConfig& tls) {
  constexpr std::chrono::milliseconds kTimeout(3000);
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  if (!ctx) return "";
  const bool ca_ok = tls.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx.get()) == 1
                                         : SSL_CTX_load_verify_locations(
                                               ctx.get(), tls.ca_file.c_str(), nullptr) == 1;
  if (!ca_ok) return "tls.ca_file " + tls.ca_file + " holds no usable CA certificate";
  if (!tls.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) != 1) {
      return "tls.cert_file " + tls.cert_file + " is not a usable certificate (" +
             TakeOpenSslReason() + ")";
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      TakeOpenSslReason();  // its text may quote the file: not logged
      return "tls.key_file " + tls.key_file + " is not the private key of tls.cert_file";
    }
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  const int fd = ConnectTcp(address.host, address.port, kTimeout);
  if (fd < 0) return "";
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  if (!ssl) {
    close(fd);
    return "";
  }
  SSL_set_fd(ssl.get(), fd);
  in6_addr ip{};
  const bool is_ip = inet_pton(AF_INET, address.host.c_str(), &ip) == 1 ||
                     inet_pton(AF_INET6, address.host.c_str(), &ip) == 1;
  if (!is_ip) {  // SNI, as paho sends it (SSL_set_tlsext_host_name is a macro with a C cast)
    SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(address.host.c_str()));
  }
  if (tls.verify_hostname) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, address.host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, address.host.c_str(), 0);
    }
  }
  std::string diagnosis;
  if (SSL_connect(ssl.get()) != 1) {
    const long verify = SSL_get_verify_result(ssl.get());
    const std::string reason = TakeOpenSslReason();
    switch (verify) {
      case X509_V_OK:
        diagnosis = ClientCertificateAlert(reason, !tls.cert_file.empty());
        if (diagnosis.empty() && !reason.empty()) diagnosis = "TLS handshake failed: " + reason;
        break;
      case X509_V_ERR_CERT_HAS_EXPIRED:
        diagnosis = "the broker's certificate has expired";
        break;
      case X509_V_ERR_CERT_NOT_YET_VALID:
        diagnosis = "the broker's certificate is not valid yet (check this PC's clock)";
        break;
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        diagnosis = "the broker's certificate is not for host name " + address.host +
                    " (use the name the certificate gives in the broker URI)";
        break;
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        diagnosis = "the broker's certificate is not signed by a CA in " +
                    (tls.ca_file.empty() ? std::string("the system CA store")
                                         : "tls.ca_file " + tls.ca_file) +
                    " (" + X509_verify_cert_error_string(verify) +
                    "); check that tls.ca_file holds the CA that signed the broker's certificate";
        break;
      default:
        diagnosis = std::string("the broker's certificate failed verification: ") +
                    X509_verify_cert_error_string(verify);
    }
  } else {
    // TLS 1.3: the broker checks our certificate after our side of the handshake is done and
    // answers a bad one with an alert; wait briefly for it (a good broker sends nothing until
    // it gets CONNECT).
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) > 0) {
      char byte;
      if (SSL_read(ssl.get(), &byte, 1) <= 0) {
        diagnosis = ClientCertificateAlert(TakeOpenSslReason(), !tls.cert_file.empty());
      }
    }
  }
  ERR_clear_error();
  close(fd);
  return diagnosis;
}

}  // namespace edge::drivers
