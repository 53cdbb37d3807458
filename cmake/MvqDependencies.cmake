# The mvq target's dependencies, all Debian bookworm packages. Shared by the build tree and the installed
# mvq-config.cmake, so a find_package(mvq) consumer resolves them the same way.
include(CMakeFindDependencyMacro)

find_dependency(tl-expected)
find_dependency(nlohmann_json)
# Debian's xsimd export links a library named `xtl` that does not exist (xtl is header-only and optional).
# An empty imported target of that name satisfies the link line.
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED)
endif()
find_dependency(xsimd)

