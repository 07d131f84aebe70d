# The two commands of the README's quick start, and a few conveniences.
# Everything real lives in CMake and scripts/; this file only names the jobs.

.PHONY: all demo check build clean

all: build

build:
	scripts/build

demo:
	scripts/demo

check:
	scripts/check

clean:
	rm -rf build build-asan
