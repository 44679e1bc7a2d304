// Logging: spdlog underneath, one named logger per component. Never log untrusted input without
// common/base/text.h's log_excerpt().
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace portcullis::log {

/// Returns (creating on first use) the logger for a component, e.g. "sip", "fcp", "nft".
std::shared_ptr<spdlog::logger> get(const std::string& component);

/// Sets the level of every logger: trace, debug, info, warn, error, critical, off.
/// Returns false for an unknown level name.
bool set_level(std::string_view level);

}  // namespace portcullis::log
