# SluiceConfig.cmake - find_package(Sluice): the targets an installed Sluice
# exports, with paths relative to this file (the prefix can be moved):
#
#   Sluice::runtime   libsluice_rt.a, the C API headers, -ljansson -lm: what
#                     a program that embeds a model (sluicec --emit=lib)
#                     links besides the model's archive
#   Sluice::main      libsluice_main.a, the main() of model executables, for
#                     a model compiled to an object (--emit=obj)
#   Sluice::sluicec   the compiler, for add_custom_command
#
# docs/install.md shows a project using them.
include("${CMAKE_CURRENT_LIST_DIR}/SluiceTargets.cmake")
set(Sluice_FOUND TRUE)
