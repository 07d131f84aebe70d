# The two commands of the README's quick start, and a few conveniences.
# Everything real lives in CMake and scripts/; this file only names the jobs.

.PHONY: all demo check build install deb clean

PREFIX ?= /usr/local

all: build

build:
	scripts/build

demo:
	scripts/demo

check:
	scripts/check

# sluicec, the runtime archives and headers, the stdlib, the Python package,
# the docs, the man page, the CMake and pkg-config files and the editors'
# syntax files under $(PREFIX) (docs/install.md).  The one install path:
# cmake --install, as cpack uses.
install: build
	cmake --install build --prefix $(PREFIX)

# The Debian package, build/sluice_<version>_<arch>.deb (prefix /usr).
deb: build
	cd build && cpack -G DEB

clean:
	rm -rf build build-asan
