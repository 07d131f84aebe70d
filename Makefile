# The two commands of the README's quick start, and a few conveniences.
# Everything real lives in CMake and scripts/; this file only names the jobs.

.PHONY: all demo check build install clean

PREFIX ?= /usr/local

all: build

build:
	scripts/build

demo:
	scripts/demo

check:
	scripts/check

# sluicec, the runtime, the stdlib and the Python package under $(PREFIX).
install: build
	cmake --install build --prefix $(PREFIX)

clean:
	rm -rf build build-asan
