# Packaging.cmake - what an installed Sluice offers other builds, and the
# Debian package (docs/install.md):
#   PREFIX/lib/cmake/Sluice/       find_package(Sluice): Sluice::runtime,
#                                  Sluice::main, Sluice::sluicec
#   PREFIX/lib/pkgconfig/sluice-runtime.pc
#   cpack -G DEB (make deb)        sluice_<version>_<arch>.deb, prefix /usr
# Every path in them is relative to the file that names it, so the prefix
# can be moved, like sluicec (compiler/paths.c).

include(CMakePackageConfigHelpers)

# A sanitizer build's runtime is instrumented: whatever links it needs the
# sanitizers' runtime too.
string(REPLACE ";" " " SLUICE_PC_LINK_FLAGS "${SLUICE_SANITIZE_FLAGS}")
foreach(flag ${SLUICE_SANITIZE_FLAGS})
  string(REPLACE "," "$<COMMA>" flag "${flag}")
  target_link_options(sluice_rt INTERFACE "$<INSTALL_INTERFACE:${flag}>")
endforeach()

install(EXPORT SluiceTargets NAMESPACE Sluice:: DESTINATION lib/cmake/Sluice)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/SluiceConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_SOURCE_DIR}/cmake/SluiceConfig.cmake
              ${CMAKE_BINARY_DIR}/SluiceConfigVersion.cmake
        DESTINATION lib/cmake/Sluice)

configure_file(${CMAKE_SOURCE_DIR}/cmake/sluice-runtime.pc.in
               ${CMAKE_BINARY_DIR}/sluice-runtime.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/sluice-runtime.pc DESTINATION lib/pkgconfig)

# The Debian package: what `cmake --install` puts under /usr.  Depends: what
# the installed sluicec needs at run time (LLVM 19's shared library, jansson;
# cc, the C library's development files and binutils to link models; jansson's
# development files, whose libjansson.so the link line names) and what the
# Python package imports.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Sluice maintainers <sluice@localhost.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "compiler for conditional neural networks (early exits, gates, experts)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6, libllvm19, libjansson4, libjansson-dev, gcc | c-compiler, libc6-dev, binutils, python3, python3-numpy")
set(CPACK_PACKAGE_DESCRIPTION
"Sluice compiles models that decide per input which parts of themselves to
run (early exits, hard gates, mixtures of experts, block dropout, token
routing) through LLVM to native code whose branches skip the work an input
does not need, and whose runs record each input's path and cost.

This package holds the compiler sluicec, its standard library, the runtime
(static archives, C headers, a pkg-config file and a CMake package) for
programs that embed a compiled model, the Python package 'sluice', the
documentation and syntax files for Vim and VS Code.")
# cpack packages what the build made, like cmake --install, and builds
# nothing (make deb builds first): it runs no make in a build tree others
# may be using.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
include(CPack)
