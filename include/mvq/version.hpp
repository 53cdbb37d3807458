#pragma once
/// @file
/// Library version and the versioned inline namespace.

#define MVQ_VERSION_MAJOR 0
#define MVQ_VERSION_MINOR 1
#define MVQ_VERSION_PATCH 0
#define MVQ_VERSION_STRING "0.1.0"

namespace mvq::inline v0 {

/// Library version as {major, minor, patch}.
struct version_info {
  int major, minor, patch;
};

/// The version of the headers in use.
inline constexpr version_info version{MVQ_VERSION_MAJOR, MVQ_VERSION_MINOR, MVQ_VERSION_PATCH};

}  // namespace mvq::inline v0
