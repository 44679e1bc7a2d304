#include "proto/grpc_runtime.h"

#include <absl/synchronization/mutex.h>

namespace portcullis {

void configure_grpc_process() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

}  // namespace portcullis
