// Test driver for the namespace test (run.sh): runs NftBackend and NetfilterConntrackCleaner for
// real inside the router namespace. Each argument after the options is one command, executed in
// order in one process:
//
//   bootstrap                        bootstrap(--epoch); prints adopted/epoch/persist
//   apply "<change>; <change>; ..."  one ChangeSet (one transaction); prints OK or the error
//   snapshot                         prints every element, sorted, one per line
//   flush-mark <mark>                ConntrackCleaner::flush_mark; prints the count
//   caps                             prints the capabilities
//   sleep <ms>                       holds the netlink socket (table ownership) for a while
//   ct-events <go_file> <rcvbuf>     ConntrackEventListener with that receive buffer: prints
//                                    "ct-events ready", waits (without reading) until go_file
//                                    exists (at most 60 s), drains everything, then dumps; prints
//                                    counts (delivered/new/destroy/overrun/...)
//
// <change> := <create|upsert|delete> map   <public> <private> <mark> <timeout_ms> [userdata]
//           | <create|upsert|delete> pin   <remote> <private> <timeout_ms> [userdata]
//           | <create|upsert|delete> latch <remote_ip> <private> <timeout_ms> <latched_ms>
//
// Exit status: 0 all commands succeeded, 3 an apply failed (the error is printed), 1 otherwise.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/log/log.h"
#include "pinhole-agent/backend/conntrack/conntrack_cleaner.h"
#include "pinhole-agent/backend/conntrack/conntrack_events.h"
#include "pinhole-agent/backend/nft/nft_backend.h"

using namespace portcullis;
using namespace portcullis::agent;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "driver: " << msg << "\n";
  std::exit(1);
}

net::Endpoint endpoint(const std::string& s) {
  auto e = net::Endpoint::parse(s);
  if (!e) {
    die("bad endpoint " + s);
  }
  return *e;
}

std::chrono::milliseconds ms(const std::string& s) { return std::chrono::milliseconds(std::stoll(s)); }

Change parse_change(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> w;
  for (std::string t; in >> t;) {
    w.push_back(t);
  }
  if (w.size() < 2) {
    die("bad change: " + text);
  }
  Change c;
  if (w[0] == "create") {
    c.op = ChangeOp::kCreate;
  } else if (w[0] == "upsert") {
    c.op = ChangeOp::kUpsert;
  } else if (w[0] == "delete") {
    c.op = ChangeOp::kDelete;
  } else {
    die("bad op: " + w[0]);
  }
  if (w[1] == "map" && w.size() >= 6) {
    PortMapping m;
    m.public_endpoint = endpoint(w[2]);
    m.private_endpoint = endpoint(w[3]);
    m.mark = static_cast<std::uint32_t>(std::stoul(w[4], nullptr, 0));
    m.timeout = ms(w[5]);
    m.userdata = w.size() > 6 ? w[6] : "";
    c.object = m;
  } else if (w[1] == "pin" && w.size() >= 5) {
    Pinhole p;
    p.remote = endpoint(w[2]);
    p.private_endpoint = endpoint(w[3]);
    p.timeout = ms(w[4]);
    p.userdata = w.size() > 5 ? w[5] : "";
    c.object = p;
  } else if (w[1] == "latch" && w.size() >= 6) {
    Latch l;
    auto a = net::IpAddress::parse(w[2]);
    if (!a) {
      die("bad address " + w[2]);
    }
    l.remote_address = *a;
    l.private_endpoint = endpoint(w[3]);
    l.timeout = ms(w[4]);
    l.latched_timeout = ms(w[5]);
    c.object = l;
  } else {
    die("bad change: " + text);
  }
  return c;
}

ChangeSet parse_changes(const std::string& text) {
  ChangeSet cs;
  std::string::size_type start = 0;
  while (start <= text.size()) {
    const auto end = text.find(';', start);
    const std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part.find_first_not_of(' ') != std::string::npos) {
      cs.changes.push_back(parse_change(part));
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return cs;
}

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%x", v);
  return buf;
}

void print_snapshot(const BackendState& s) {
  std::vector<std::string> lines;
  for (const PortMapping& m : s.mappings) {
    lines.push_back("map " + m.public_endpoint.to_string() + " " + m.private_endpoint.to_string() +
                    " mark=" + hex(m.mark) + " t=" + std::to_string(m.timeout.count()) +
                    " ud=" + m.userdata);
  }
  for (const Pinhole& p : s.pinholes) {
    lines.push_back("pin " + p.remote.to_string() + " " + p.private_endpoint.to_string() +
                    " t=" + std::to_string(p.timeout.count()) + " ud=" + p.userdata);
  }
  for (const Latch& l : s.latches) {
    lines.push_back("latch " + l.remote_address.to_string() + " " +
                    l.private_endpoint.to_string() + " t=" + std::to_string(l.timeout.count()) +
                    " lt=" + std::to_string(l.latched_timeout.count()));
  }
  std::sort(lines.begin(), lines.end());
  for (const std::string& l : lines) {
    std::cout << "  " << l << "\n";
  }
  std::cout << "snapshot " << lines.size() << " elements\n";
}

}  // namespace

int main(int argc, char** argv) {
  NftBackendConfig cfg;
  cfg.latched_pinhole_timeout = std::chrono::milliseconds(60000);
  std::string epoch = "epoch-default";
  std::vector<std::string> commands;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        die("missing value for " + a);
      }
      return argv[++i];
    };
    if (a == "--table") {
      cfg.table_name = next();
    } else if (a == "--wan") {
      cfg.wan_interfaces.push_back(next());
    } else if (a == "--lan") {
      cfg.lan_interfaces.push_back(next());
    } else if (a == "--epoch") {
      epoch = next();
    } else if (a == "--legacy") {
      // Exercise the pre-6.3/6.10 code paths on a new kernel.
      cfg.force_destroy_setelem = false;
      cfg.force_in_place_timeout_update = false;
    } else if (a == "--in-place") {
      cfg.upsert_in_place = true;
    } else if (a == "--no-ipv6") {
      cfg.ipv6 = false;
    } else if (a == "--verbose") {
      log::set_level("debug");
    } else {
      commands.push_back(a);
    }
  }
  if (cfg.wan_interfaces.empty()) {
    cfg.wan_interfaces.push_back("wan0");
  }
  if (!std::getenv("DRIVER_VERBOSE")) {
    log::set_level("warn");
  }

  auto backend = NftBackend::create(cfg);
  if (!backend) {
    die("create: " + backend.error().to_string());
  }
  std::unique_ptr<NetfilterConntrackCleaner> cleaner;
  int status = 0;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const std::string& cmd = commands[i];
    if (cmd == "bootstrap") {
      auto r = (*backend)->bootstrap(epoch);
      if (!r) {
        die("bootstrap: " + r.error().to_string());
      }
      std::cout << "bootstrap adopted=" << r->adopted_existing << " epoch=" << r->state_epoch
                << " persist=" << (*backend)->capabilities().table_persist_flag << "\n";
    } else if (cmd == "apply") {
      if (i + 1 >= commands.size()) {
        die("apply needs changes");
      }
      const ChangeSet cs = parse_changes(commands[++i]);
      Status st = (*backend)->apply(cs);
      if (st.ok()) {
        std::cout << "apply OK (" << cs.changes.size() << " changes)\n";
      } else {
        std::cout << "apply ERROR " << error_code_name(st.error().code) << ": "
                  << st.error().message << "\n";
        status = 3;
      }
    } else if (cmd == "snapshot") {
      auto s = (*backend)->snapshot();
      if (!s) {
        die("snapshot: " + s.error().to_string());
      }
      print_snapshot(*s);
    } else if (cmd == "flush-mark") {
      if (i + 1 >= commands.size()) {
        die("flush-mark needs a mark");
      }
      if (!cleaner) {
        auto c = NetfilterConntrackCleaner::create();
        if (!c) {
          die("conntrack: " + c.error().to_string());
        }
        cleaner = std::move(*c);
      }
      const auto mark = static_cast<std::uint32_t>(std::stoul(commands[++i], nullptr, 0));
      auto n = cleaner->flush_mark(mark);
      if (!n) {
        die("flush-mark: " + n.error().to_string());
      }
      std::cout << "flushed " << *n << "\n";
    } else if (cmd == "sleep") {
      // Keeps the socket (and so table ownership) alive, for the second-owner test.
      if (i + 1 >= commands.size()) {
        die("sleep needs milliseconds");
      }
      std::cout.flush();
      std::this_thread::sleep_for(ms(commands[++i]));
    } else if (cmd == "ct-events") {
      if (i + 2 >= commands.size()) {
        die("ct-events needs <go_file> <rcvbuf>");
      }
      const std::string go_file = commands[++i];
      ConntrackEventOptions o;
      o.receive_buffer_bytes = std::stoul(commands[++i]);
      auto l = ConntrackEventListener::create(o);
      if (!l) {
        die("ct-events: " + l.error().to_string());
      }
      std::cout << "ct-events ready" << std::endl;
      for (int waited = 0; waited < 600 && !std::ifstream(go_file).good(); ++waited) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::vector<FlowEvent> events;
      bool overrun = false;
      for (;;) {
        const DrainResult r = (*l)->drain(events, 1000);
        overrun = overrun || r.overrun;
        if (!r.more && r.events == 0) {
          break;
        }
      }
      std::size_t news = 0;
      std::size_t destroys = 0;
      for (const FlowEvent& e : events) {
        (e.kind == FlowEvent::Kind::kNew ? news : destroys) += 1;
      }
      auto dump = (*l)->dump_flows();
      if (!dump) {
        die("ct-events dump: " + dump.error().to_string());
      }
      const ConntrackEventStats& st = (*l)->stats();
      std::cout << "ct-events filter=" << st.kernel_filter_attached << " delivered=" << events.size()
                << " new=" << news << " destroy=" << destroys << " overrun=" << overrun
                << " overruns=" << st.overruns << " ignored=" << st.ignored << " dump=" << dump->size() << "\n";
      if (!events.empty()) {
        const FlowEvent& e = events.front();
        std::cout << "ct-event first mark=" << hex(e.mark) << " orig=" << e.original_source.to_string() << "->"
                  << e.original_destination.to_string() << " reply_src=" << e.reply_source.to_string() << "\n";
      }
    } else if (cmd == "caps") {
      const BackendCapabilities c = (*backend)->capabilities();
      std::cout << "caps in_place_timeout_update=" << c.in_place_timeout_update
                << " table_persist_flag=" << c.table_persist_flag << " ipv6=" << c.ipv6
                << " destroy_setelem=" << (*backend)->uses_destroy_setelem() << "\n";
    } else {
      die("unknown command " + cmd);
    }
  }
  std::cout.flush();
  return status;
}
