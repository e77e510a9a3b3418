#include "agent/wireguard/uapi.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent/wireguard/link.h"
#include "common/file_util.h"
#include "common/netns/process.h"
#include "common/status_macros.h"

namespace weft::wireguard {
namespace {

constexpr size_t kMaxAnswerBytes = 64u << 20;
constexpr absl::Duration kIoTimeout = absl::Seconds(5);
constexpr absl::Duration kStopGrace = absl::Seconds(5);

absl::Status ErrnoStatus(int err, const std::string& msg) {
  std::string text = absl::StrCat(msg, ": ", strerror(err));
  switch (err) {
    case ENOENT:
    case ECONNREFUSED:
      return absl::UnavailableError(text);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(text);
    case EAGAIN:
    case ETIMEDOUT:
      return absl::DeadlineExceededError(text);
    case EINVAL:
      return absl::InvalidArgumentError(text);
    default:
      return absl::InternalError(text);
  }
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::StatusOr<net::IpPrefix> ParsePrefixLoose(absl::string_view text) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("allowed IP \"", text, "\" has no /length"));
  }
  auto ip = net::IpAddress::Parse(text.substr(0, slash));
  int len = -1;
  if (!ip.ok() || !absl::SimpleAtoi(text.substr(slash + 1), &len) || len < 0 || len > ip->bits()) {
    return absl::InvalidArgumentError(absl::StrCat("allowed IP \"", text, "\" is malformed"));
  }
  return net::IpPrefix::Of(*ip, len);
}

// The complete answer ends with the line "errno=N" and an empty line.
bool AnswerComplete(const std::string& a) {
  if (a.size() < 2 || a.compare(a.size() - 2, 2, "\n\n") != 0) return false;
  size_t start = a.rfind('\n', a.size() - 3);
  start = start == std::string::npos ? 0 : start + 1;
  return a.compare(start, 6, "errno=") == 0;
}

// Connects to the UAPI socket (with send/receive timeouts).
absl::StatusOr<int> Connect(const std::string& socket_path, const std::string& what) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(sa.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": socket path ", socket_path,
                                                   " is longer than ", sizeof(sa.sun_path) - 1,
                                                   " bytes"));
  }
  memcpy(sa.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat(what, ": unix socket"));
  timeval tv = absl::ToTimeval(kIoTimeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    int err = errno;
    close(fd);
    std::string hint;
    if (err == ENOENT) hint = " (no such socket: is wireguard-go running for it?)";
    if (err == ECONNREFUSED) hint = " (stale socket: nobody listens)";
    return ErrnoStatus(err, absl::StrCat(what, ": connect to ", socket_path, hint));
  }
  return fd;
}

bool SocketAnswers(const std::string& socket_path) {
  auto fd = Connect(socket_path, "probe");
  if (!fd.ok()) return false;
  close(*fd);
  return true;
}

absl::StatusOr<pid_t> ReadPidFile(const std::string& pid_file) {
  auto text = ReadFile(pid_file);
  if (!text.ok()) return text.status();
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) || pid <= 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("pid file ", pid_file, " does not hold a process id"));
  }
  return static_cast<pid_t>(pid);
}

netns::CmdlineMatcher WireguardGoCmdline(const std::string& program, const std::string& ifname) {
  return [base = Basename(program), ifname](const std::vector<std::string>& c) {
    return c.size() == 3 && Basename(c[0]) == base && c[1] == "-f" && c[2] == ifname;
  };
}

// The end of a log file, for an error message.
std::string LogTail(const std::string& log_file) {
  if (log_file.empty()) return "";
  auto text = ReadFile(log_file);
  if (!text.ok() || text->empty()) return "";
  std::string tail = text->size() > 600 ? text->substr(text->size() - 600) : *text;
  return absl::StrCat("; end of ", log_file, ":\n", absl::StripTrailingAsciiWhitespace(tail));
}

// Removes the socket file when it is a socket nobody listens on (left behind
// by a wireguard-go that was killed).
void RemoveStaleSocket(const std::string& socket_path) {
  struct stat st;
  if (lstat(socket_path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  auto fd = Connect(socket_path, "probe");
  if (fd.ok()) {
    close(*fd);
    return;
  }
  if (absl::IsUnavailable(fd.status())) unlink(socket_path.c_str());
}

}  // namespace

std::string UapiSocketPath(const std::string& ifname) {
  return absl::StrCat(kUapiSocketDir, "/", ifname, ".sock");
}

std::string PlanUapiSet(const DevicePlan& plan) {
  if (plan.empty()) return "";
  std::string out = "set=1\n";
  if (plan.private_key) absl::StrAppend(&out, "private_key=", ToHex(*plan.private_key), "\n");
  if (plan.listen_port) absl::StrAppend(&out, "listen_port=", *plan.listen_port, "\n");
  if (plan.fwmark) absl::StrAppend(&out, "fwmark=", *plan.fwmark, "\n");
  for (const PeerChange& c : plan.peers) {
    absl::StrAppend(&out, "public_key=", ToHex(c.public_key), "\n");
    if (c.kind == PeerChange::Kind::kRemove) {
      out += "remove=true\n";
      continue;
    }
    // Must follow public_key directly: wireguard-go creates the peer on the
    // public_key line and undoes that on update_only.
    if (c.kind == PeerChange::Kind::kUpdate) out += "update_only=true\n";
    if (c.endpoint) absl::StrAppend(&out, "endpoint=", c.endpoint->ToString(), "\n");
    if (c.persistent_keepalive) {
      absl::StrAppend(&out, "persistent_keepalive_interval=", *c.persistent_keepalive, "\n");
    }
    if (c.replace_allowed_ips) out += "replace_allowed_ips=true\n";
    for (const net::IpPrefix& ip : c.allowed_ips) {
      absl::StrAppend(&out, "allowed_ip=", ip.ToString(), "\n");
    }
  }
  out += "\n";
  return out;
}

std::string PlanUapiSet(const DeviceState& current, const DeviceConfig& desired) {
  return PlanUapiSet(PlanDevice(current, desired));
}

absl::Status ParseUapiErrno(absl::string_view answer, const std::string& what) {
  for (absl::string_view line : absl::StrSplit(answer, '\n', absl::SkipEmpty())) {
    if (!absl::ConsumePrefix(&line, "errno=")) continue;
    int64_t err = 0;
    if (!absl::SimpleAtoi(line, &err)) {
      return absl::DataLossError(absl::StrCat(what, ": malformed errno line"));
    }
    if (err == 0) return absl::OkStatus();
    // wireguard-go sends negative values (-EINVAL); the protocol text says errno.
    int e = static_cast<int>(err < 0 ? -err : err);
    return ErrnoStatus(e, absl::StrCat(what, ": the device answered errno=", err));
  }
  return absl::DataLossError(absl::StrCat(what, ": the answer has no errno line"));
}

absl::StatusOr<DeviceState> ParseUapiGet(absl::string_view answer, const std::string& device) {
  const std::string what = absl::StrCat("read wireguard device ", device);
  DeviceState state;
  struct Handshake {
    int64_t sec = 0, nsec = 0;
  };
  std::vector<Handshake> handshakes;
  bool have_errno = false;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(answer, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    if (have_errno) {
      return absl::DataLossError(
          absl::StrCat(what, ": text after the errno line (line ", line_no, ")"));
    }
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::DataLossError(absl::StrCat(what, ": line ", line_no, " is not key=value"));
    }
    absl::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    auto bad = [&]() {
      // Secret values are never repeated.
      bool secret = key == "private_key" || key == "preshared_key";
      return absl::DataLossError(absl::StrCat(what, ": malformed ", key,
                                              secret ? "" : absl::StrCat(" \"", value, "\""),
                                              " (line ", line_no, ")"));
    };
    auto number = [&](uint64_t max, uint64_t* out) {
      return absl::SimpleAtoi(value, out) && *out <= max;
    };
    PeerState* peer = state.peers.empty() ? nullptr : &state.peers.back();
    uint64_t n = 0;
    if (key == "errno") {
      have_errno = true;
      if (absl::Status s = ParseUapiErrno(line, what); !s.ok()) return s;
    } else if (key == "public_key") {
      auto k = ParseHexKey(value);
      if (!k.ok()) return bad();
      state.peers.emplace_back();
      state.peers.back().public_key = *k;
      handshakes.emplace_back();
    } else if (peer == nullptr) {
      if (key == "private_key") {
        auto k = ParseHexKey(value);
        if (!k.ok()) return bad();
        state.public_key = PublicKey(*k);
        OPENSSL_cleanse(k->bytes.data(), k->bytes.size());
      } else if (key == "listen_port") {
        if (!number(65535, &n)) return bad();
        state.listen_port = static_cast<uint16_t>(n);
      } else if (key == "fwmark") {
        if (!number(0xffffffffu, &n)) return bad();
        state.fwmark = static_cast<uint32_t>(n);
      }
    } else if (key == "endpoint") {
      // A form we cannot represent (should not happen) is reported as "no
      // endpoint" rather than failing the whole device.
      auto ep = Endpoint::Parse(value);
      if (ep.ok()) peer->endpoint = *ep;
    } else if (key == "allowed_ip") {
      auto p = ParsePrefixLoose(value);
      if (!p.ok()) return bad();
      peer->allowed_ips.push_back(*p);
    } else if (key == "rx_bytes") {
      if (!absl::SimpleAtoi(value, &peer->rx_bytes)) return bad();
    } else if (key == "tx_bytes") {
      if (!absl::SimpleAtoi(value, &peer->tx_bytes)) return bad();
    } else if (key == "persistent_keepalive_interval") {
      if (!number(65535, &n)) return bad();
      peer->persistent_keepalive = static_cast<int>(n);
    } else if (key == "last_handshake_time_sec") {
      if (!absl::SimpleAtoi(value, &handshakes.back().sec)) return bad();
    } else if (key == "last_handshake_time_nsec") {
      if (!absl::SimpleAtoi(value, &handshakes.back().nsec)) return bad();
    }
    // Anything else (preshared_key, protocol_version, newer keys): not needed.
  }
  if (!have_errno) {
    return absl::DataLossError(absl::StrCat(what, ": the answer ended without an errno line"));
  }
  for (size_t i = 0; i < state.peers.size(); ++i) {
    const Handshake& h = handshakes[i];
    if (h.sec != 0 || h.nsec != 0) {
      state.peers[i].last_handshake = absl::FromUnixSeconds(h.sec) + absl::Nanoseconds(h.nsec);
    }
  }
  return state;
}

absl::StatusOr<std::unique_ptr<UapiDevice>> UapiDevice::Open(const std::string& ifname,
                                                             const std::string& socket_path) {
  RETURN_IF_ERROR(ValidateInterfaceName(ifname));
  std::unique_ptr<UapiDevice> dev(
      new UapiDevice(ifname, socket_path.empty() ? UapiSocketPath(ifname) : socket_path));
  auto state = dev->Get();
  if (!state.ok()) return state.status();
  return dev;
}

absl::StatusOr<std::string> UapiDevice::Exchange(const std::string& request,
                                                 const std::string& what) {
  ASSIGN_OR_RETURN(int fd, Connect(socket_path_, what));
  for (size_t off = 0; off < request.size();) {
    ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return ErrnoStatus(err, absl::StrCat(what, ": send to ", socket_path_));
    }
    off += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[4096];
  while (!AnswerComplete(answer)) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      Wipe(answer);
      return ErrnoStatus(err, absl::StrCat(what, ": receive from ", socket_path_));
    }
    if (n == 0 || answer.size() + static_cast<size_t>(n) > kMaxAnswerBytes) {
      close(fd);
      Wipe(answer);
      return absl::DataLossError(absl::StrCat(what, ": ",
                                              n == 0
                                                  ? "the connection closed before the answer ended"
                                                  : "the answer is larger than 64 MiB",
                                              " (", socket_path_, ")"));
    }
    answer.append(buf, static_cast<size_t>(n));
  }
  OPENSSL_cleanse(buf, sizeof(buf));
  close(fd);
  return answer;
}

absl::StatusOr<DeviceState> UapiDevice::Get() {
  ASSIGN_OR_RETURN(std::string answer,
                   Exchange("get=1\n\n", absl::StrCat("read wireguard device ", ifname_)));
  auto state = ParseUapiGet(answer, ifname_);
  Wipe(answer);  // it holds the private key
  return state;
}

absl::Status UapiDevice::Apply(const DeviceConfig& config) {
  ASSIGN_OR_RETURN(DevicePlan plan, PlanApply(*this, config));
  if (plan.empty()) return absl::OkStatus();
  const std::string what =
      absl::StrCat("configure wireguard device ", ifname_, " (", plan.Summary(), ")");
  std::string request = PlanUapiSet(plan);
  auto answer = Exchange(request, what);
  Wipe(request);
  if (plan.private_key) OPENSSL_cleanse(plan.private_key->bytes.data(), kKeyLength);
  if (!answer.ok()) return answer.status();
  return ParseUapiErrno(*answer, what);
}


absl::StatusOr<std::unique_ptr<UapiDevice>> EnsureUserspaceDevice(const UserspaceOptions& options) {
  const std::string& ifname = options.ifname;
  RETURN_IF_ERROR(ValidateInterfaceName(ifname));
  if (options.pid_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("userspace wireguard device ", ifname, ": no pid file given"));
  }
  const std::string socket_path = UapiSocketPath(ifname);
  const auto is_ours = WireguardGoCmdline(options.wireguard_go, ifname);
  const std::string what = absl::StrCat("userspace wireguard device ", ifname);

  // The wireguard-go we started earlier (maybe as a previous agent), if it runs.
  pid_t known = 0;
  if (auto pid = ReadPidFile(options.pid_file); pid.ok()) {
    waitpid(*pid, nullptr, WNOHANG);  // reaps it if it is our child and has exited
    auto cmdline = netns::ReadCmdline(*pid);
    if (cmdline.ok() && netns::IsRunning(*pid) && is_ours(*cmdline)) known = *pid;
  }
  auto finish = [&](std::unique_ptr<UapiDevice> dev, pid_t pid,
                    bool adopted) -> absl::StatusOr<std::unique_ptr<UapiDevice>> {
    RETURN_IF_ERROR(ConfigureLink(ifname, options.mtu, options.netns_path));
    dev->pid_ = pid;
    dev->adopted_ = adopted;
    return dev;
  };
  auto wait_for_socket = [&](pid_t pid) -> absl::StatusOr<std::unique_ptr<UapiDevice>> {
    const absl::Time deadline = absl::Now() + options.start_timeout;
    absl::Status last;
    for (;;) {
      auto dev = UapiDevice::Open(ifname);
      if (dev.ok()) return dev;
      last = dev.status();
      int wstatus = 0;
      if (waitpid(pid, &wstatus, WNOHANG) == pid || !netns::IsRunning(pid)) {
        return absl::UnavailableError(
            absl::StrCat(what, ": wireguard-go (pid ", pid, ") exited during start-up",
                         WIFEXITED(wstatus) || WIFSIGNALED(wstatus)
                             ? absl::StrCat(" with code ", netns::ExitCode(wstatus))
                             : "",
                         LogTail(options.log_file)));
      }
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat(what, ": wireguard-go (pid ", pid, ") did not answer on ", socket_path,
                         " within ", absl::FormatDuration(options.start_timeout), " (",
                         last.message(), ")", LogTail(options.log_file)));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  };

  ASSIGN_OR_RETURN(std::optional<netlink::Link> link, FindLink(ifname, options.netns_path));
  if (link) {
    auto dev = UapiDevice::Open(ifname);
    if (!dev.ok() && known != 0) dev = wait_for_socket(known);  // still starting
    if (dev.ok()) return finish(std::move(*dev), known, /*adopted=*/true);
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": the interface exists (kind \"", link->kind,
                     "\") but nothing answers on ", socket_path, " (", dev.status().message(),
                     "); it is not a wireguard-go device Weft can adopt, so it is left alone"));
  }
  if (SocketAnswers(socket_path)) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": a wireguard-go answers on ", socket_path,
        " but there is no such interface in this network namespace (the name is in use in "
        "another namespace?)"));
  }
  if (known != 0) {
    // Ours, but without its interface or socket: wedged. Start afresh.
    RETURN_IF_ERROR(netns::Stop(known, is_ours, kStopGrace));
  }

  ASSIGN_OR_RETURN(std::string program, netns::FindProgram(options.wireguard_go));
  if (absl::Status s = MakeDirs(DirOf(options.pid_file), 0700); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(what, ": pid file folder: ", s.message()));
  }
  int log_fd = -1;
  if (!options.log_file.empty()) {
    if (absl::Status s = MakeDirs(DirOf(options.log_file), 0700); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(what, ": log folder: ", s.message()));
    }
    log_fd = open(options.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log_fd < 0) return ErrnoStatus(errno, absl::StrCat(what, ": open ", options.log_file));
  }
  netns::SpawnOptions spawn;
  spawn.argv = {program, "-f", ifname};
  spawn.netns_path = options.netns_path;
  spawn.stdout_fd = log_fd;
  spawn.stderr_fd = log_fd;
  spawn.new_session = true;  // survives the agent and its terminal
  spawn.terminate_with_parent = options.terminate_with_parent;
  auto pid = netns::Spawn(spawn);
  if (log_fd >= 0) close(log_fd);
  if (!pid.ok()) {
    return absl::Status(pid.status().code(), absl::StrCat(what, ": ", pid.status().message()));
  }
  auto give_up = [&](const absl::Status& why) {
    netns::Stop(*pid, is_ours, kStopGrace).IgnoreError();
    unlink(options.pid_file.c_str());
    return why;
  };
  if (absl::Status s = WriteFileAtomically(options.pid_file, absl::StrCat(*pid, "\n"), 0644);
      !s.ok()) {
    return give_up(absl::Status(s.code(), absl::StrCat(what, ": pid file: ", s.message())));
  }
  auto dev = wait_for_socket(*pid);
  if (!dev.ok()) return give_up(dev.status());
  auto done = finish(std::move(*dev), *pid, /*adopted=*/false);
  if (!done.ok()) return give_up(done.status());
  return done;
}

absl::Status StopUserspaceDevice(const std::string& pid_file, const std::string& ifname,
                                 const std::string& program) {
  RETURN_IF_ERROR(ValidateInterfaceName(ifname));
  auto pid = ReadPidFile(pid_file);
  if (!pid.ok() && !absl::IsNotFound(pid.status())) return pid.status();
  if (pid.ok()) {
    absl::Status s = netns::Stop(*pid, WireguardGoCmdline(program, ifname), kStopGrace);
    // FailedPrecondition: the PID now belongs to another program; the pid file
    // is stale and nothing was signalled.
    if (!s.ok() && !absl::IsFailedPrecondition(s)) {
      return absl::Status(s.code(),
                          absl::StrCat("stop wireguard-go for ", ifname, ": ", s.message()));
    }
    if (unlink(pid_file.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("remove pid file ", pid_file));
    }
  }
  RemoveStaleSocket(UapiSocketPath(ifname));
  return absl::OkStatus();
}

}  // namespace weft::wireguard
