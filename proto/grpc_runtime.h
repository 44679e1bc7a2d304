// Process-wide settings of the gRPC runtime, shared by portcullis-controller and portcullis-agent.
// Call once at the top of main(), before any channel or server exists.
#pragma once

namespace portcullis {

/// Debian builds Abseil without NDEBUG, which leaves absl::Mutex's lock-order deadlock detector on
/// (OnDeadlockCycle::kAbort): every lock gRPC takes updates a global lock graph. That graph showed
/// as 3 % of the controller's CPU under call load with media (perf, bench/nat_vs_kamailio.sh). It is
/// a debugging aid for Abseil's own users; production servers run with it off.
void configure_grpc_process();

}  // namespace portcullis
