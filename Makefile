# SPDX-License-Identifier: MIT
# procpool: make | make test (= make check) | make torture | make demo | make examples | make bench
#           make asan | make tsan | make valgrind | make lint | make format | make man
#           make install [PREFIX=/usr/local LIBDIR= INCLUDEDIR= MANDIR= PKGCONFIGDIR= DESTDIR=]
#           make uninstall | make check-install | make check-docs
#           make mpi | make test-mpi | make test-slurm | make bench-mpi | make install-mpi (the cluster pool)
#           WERROR=0 drops -Werror (a newer compiler's new warnings then do not break the build)

CC      ?= cc
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/procpool
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/procpool
BUILD   ?= build
CFLAGS  ?= -O2 -g
WERROR  ?= 1
WARN    := -std=c11 -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -Iinclude
LDLIBS  := -lpthread -lm -lrt -ldl

SRC     := $(wildcard src/*.c)
OBJ     := $(SRC:src/%.c=$(BUILD)/obj/%.o)
PIC_OBJ := $(SRC:src/%.c=$(BUILD)/pic/%.o)
LIB     := $(BUILD)/libprocpool.a
VERSION := $(shell sed -n 's/^\#define PP_VERSION_\(MAJOR\|MINOR\|PATCH\) //p' include/procpool.h | paste -sd.)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libprocpool.so.$(MAJOR)
SOFULL  := libprocpool.so.$(VERSION)
# the man3 pages: one per "### pp_name" entry of docs/api.md, functions and types
MAN3    := $(shell sed -n 's/^\#\#\# \(pp_[a-z_]*\)$$/\1/p' docs/api.md)
TESTS   := $(wildcard test/test_*.c)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
TEST_BIN := $(BUILD)/test/procpool_tests
TORTURE_BIN := $(BUILD)/test/torture
ALLOC_BIN := $(BUILD)/test/alloc_fail
CLUSTER_TEST := $(BUILD)/test/cluster_tests


.PHONY: mpi mpi-deps test-mpi test-slurm bench-mpi install-mpi
.PHONY: all test check torture demo examples bench asan tsan valgrind lint format install uninstall shared man check-install check-docs clean deps

all: $(LIB) shared

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) include/procpool.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -c $< -o $@

$(LIB): $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/pic/%.o: src/%.c $(wildcard src/*.h) include/procpool.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

# The shared library, with the version chain libprocpool.so -> .so.MAJOR -> .so.VERSION.
shared: $(BUILD)/$(SOFULL)
$(BUILD)/$(SOFULL): $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)
	ln -sf $(SOFULL) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/libprocpool.so

# Criterion is installed on first use when it is missing (Debian/Ubuntu).
deps:
	@if ! echo '#include <criterion/criterion.h>' | $(CC) -E -x c - >/dev/null 2>&1; then \
	  echo "procpool: installing libcriterion-dev"; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libcriterion-dev >/dev/null; \
	fi

$(TEST_BIN): $(TESTS) test/helpers.h test/procinfo.h test/chunk_end.h $(LIB) | deps
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -Wno-missing-prototypes -D_GNU_SOURCE $(CFLAGS) $(CPPFLAGS) $(TESTS) $(LIB) -lcriterion $(LDLIBS) -o $@

$(TORTURE_BIN): test/torture.c test/procinfo.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# every allocation of the library fails once (see test/alloc_fail.c)
$(ALLOC_BIN): test/alloc_fail.c test/procinfo.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) $< $(LIB) -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc $(LDLIBS) -o $@

# The suites, then allocation failure, then a fixed set of torture seeds,
# then the cluster suite over the in-process transport (no MPI needed).
test: $(TEST_BIN) $(ALLOC_BIN) $(TORTURE_BIN) $(CLUSTER_TEST)
	$(TEST_BIN) $(TEST_ARGS)
	$(ALLOC_BIN)
	$(TORTURE_BIN) --seeds 16 --quiet
	$(CLUSTER_TEST)

check: test

# The randomized model test: make torture [SEEDS=N] [FIRST=S] [SEED=s] [OPS=m]
torture: $(TORTURE_BIN)
	$(TORTURE_BIN) $(if $(SEED),--seed $(SEED),--seeds $(or $(SEEDS),100) --first $(or $(FIRST),1000)) $(if $(OPS),--ops $(OPS))

$(BUILD)/examples/%: examples/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $< $(LIB) $(LDLIBS) -o $@

examples: $(EXAMPLES)

demo: $(BUILD)/examples/squares
	$(BUILD)/examples/squares

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $< $(LIB) $(LDLIBS) -o $@

# The benchmarks side by side with Python (8 min 20 s on a busy 2-core machine; BENCH_ARGS=--quick: 3.5 min).
# gnuplot (for the chart) is installed on first use when missing.
bench: $(BENCHES)
	@if ! command -v gnuplot >/dev/null; then echo "procpool: installing gnuplot-nox"; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null; fi
	bash bench/run.sh $(BUILD) $(BENCH_ARGS)

# ---- the cluster pool (include/procpool_mpi.h) ----------------------------------
# The cluster protocol (src/mpi/, every file but transport_mpi.c) includes no
# mpi.h and is compiled with $(CC) into $(BUILD)/cluster/: make test links it
# with the in-process transport (CLUSTER_TEST, above). libprocpool_mpi.a holds
# the whole library, the protocol and the MPI transport (transport_mpi.c, the
# only file compiled with mpicc), so a cluster program links it alone:
# mpicc prog.c -lprocpool_mpi -lpthread -lm -lrt -ldl. Open MPI is installed
# on first use when mpicc is missing (Debian/Ubuntu).
MPICC   ?= mpicc
MPIRUN  ?= mpirun --allow-run-as-root --oversubscribe --bind-to none
CLUSTER_SRC := $(filter-out src/mpi/transport_mpi.c src/mpi/transport_local.c,$(wildcard src/mpi/*.c))
CLUSTER_OBJ := $(CLUSTER_SRC:src/mpi/%.c=$(BUILD)/cluster/%.o)
MPI_SRC := $(wildcard src/mpi/*.c)
MPI_OBJ := $(BUILD)/mpi/transport_mpi.o
MPI_LIB := $(BUILD)/libprocpool_mpi.a
MPI_TEST := $(BUILD)/test/mpi_tests
CLUSTER_CHECKS := test/mpi/checks.c test/mpi/checks.h test/procinfo.h test/chunk_end.h

mpi-deps:
	@if ! command -v $(MPICC) >/dev/null || ! command -v mpirun >/dev/null; then \
	  echo "procpool: installing openmpi-bin libopenmpi-dev"; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null; \
	fi

$(BUILD)/cluster/%.o: src/mpi/%.c $(wildcard src/mpi/*.h) $(wildcard src/*.h) include/procpool.h include/procpool_mpi.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -c $< -o $@

$(MPI_OBJ): src/mpi/transport_mpi.c $(wildcard src/mpi/*.h) src/sync.h include/procpool.h | mpi-deps
	@mkdir -p $(dir $@)
	$(MPICC) $(WARN) $(CFLAGS) $(CPPFLAGS) -c $< -o $@

$(MPI_LIB): $(OBJ) $(CLUSTER_OBJ) $(MPI_OBJ)
	@rm -f $@
	ar rcs $@ $^

mpi: $(MPI_LIB)

# The in-process suite (make test): the relay and its agents as threads
# (everything but pp_mpi_init, init.c, which opens the MPI transport).
LOCAL_OBJ := $(filter-out $(BUILD)/cluster/init.o,$(CLUSTER_OBJ)) $(BUILD)/cluster/transport_local.o
$(CLUSTER_TEST): test/mpi/test_local.c $(CLUSTER_CHECKS) $(LOCAL_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) test/mpi/test_local.c test/mpi/checks.c $(LOCAL_OBJ) $(LIB) $(LDLIBS) -o $@

$(MPI_TEST): test/mpi/test_mpi.c $(CLUSTER_CHECKS) $(MPI_LIB)
	@mkdir -p $(dir $@)
	$(MPICC) $(WARN) $(CFLAGS) $(CPPFLAGS) test/mpi/test_mpi.c test/mpi/checks.c $(MPI_LIB) $(LDLIBS) -o $@

# The cluster suite on 4 ranks (a master and 3 agents), and an agent stopped
# for 2.5 s in a job that cannot lose a rank (waited out); then, under
# --enable-recovery, an agent killed, an agent stopped and resumed (it is
# fenced and leaves), and the master killed (every agent leaves within its
# 5 s of patience); then no process of any run may be left.
test-mpi: $(MPI_TEST)
	timeout 600 $(MPIRUN) -n 4 $(MPI_TEST)
	timeout 300 $(MPIRUN) -n 4 $(MPI_TEST) --stop-agent
	timeout 300 $(MPIRUN) --enable-recovery -n 4 $(MPI_TEST) --lose-agent
	timeout 300 $(MPIRUN) --enable-recovery -n 4 $(MPI_TEST) --stop-agent
	timeout 60 $(MPIRUN) --enable-recovery -n 4 $(MPI_TEST) --lose-master >$(BUILD)/test/lose-master.log 2>&1 || true
	@grep -q '^mpi: rank 0 kills itself$$' $(BUILD)/test/lose-master.log || \
	  { cat $(BUILD)/test/lose-master.log; echo "test-mpi: the lost-master run did not get that far"; exit 1; }
	@for i in $$(seq 100); do pgrep -x $(notdir $(MPI_TEST)) >/dev/null || exit 0; sleep 0.1; done; \
	  echo "processes left after 10 s:"; pgrep -ax $(notdir $(MPI_TEST)); exit 1

# The cluster suite under Slurm: a one-node Slurm (slurm-wlm, munge; installed
# when missing) in a temporary folder, the suite and the stopped-agent check
# under srun --mpi=pmix, and the lost-agent check under salloc + mpirun
# --enable-recovery; the daemons are stopped by pid and the folder removed
# (test/mpi/slurm.sh).
test-slurm: $(MPI_TEST)
	@if ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then echo "procpool: installing slurm-wlm munge"; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq slurm-wlm munge >/dev/null; fi
	bash test/mpi/slurm.sh $(MPI_TEST) "$(MPIRUN)"

$(BUILD)/examples/cluster: examples/mpi/cluster.c $(MPI_LIB)
	@mkdir -p $(dir $@)
	$(MPICC) $(WARN) $(CFLAGS) $(CPPFLAGS) $< $(MPI_LIB) $(LDLIBS) -o $@

$(BUILD)/bench/mpi_bench: bench/mpi/mpi_bench.c $(MPI_LIB)
	@mkdir -p $(dir $@)
	$(MPICC) $(WARN) $(CFLAGS) $(CPPFLAGS) $< $(MPI_LIB) $(LDLIBS) -o $@

# procpool's cluster pool against mpi4py.futures (Debian's python3-mpi4py), 4 ranks.
bench-mpi: $(BUILD)/bench/mpi_bench
	@if ! /usr/bin/python3 -c 'import mpi4py' 2>/dev/null; then echo "procpool: installing python3-mpi4py"; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-mpi4py >/dev/null; fi
	bash bench/mpi/run.sh $(BUILD) "$(MPIRUN)" $(BENCH_ARGS)

# Sanitizer and valgrind runs of the whole suite, each in its own build tree.
asan:
	$(MAKE) BUILD=$(BUILD)/asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" $(BUILD)/asan/test/procpool_tests $(BUILD)/asan/test/torture \
	  $(BUILD)/asan/test/cluster_tests
	$(ASAN_ENV) $(BUILD)/asan/test/procpool_tests $(TEST_ARGS)
	$(ASAN_ENV) $(BUILD)/asan/test/torture --seeds 6 --quiet
	$(ASAN_ENV) $(BUILD)/asan/test/cluster_tests
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:handle_segv=0:handle_abort=0 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/test/lsan.supp UBSAN_OPTIONS=print_stacktrace=1

# Criterion cannot start under TSan (Criterion issue #274): the same suites are
# built against a stand-in header and runner (test/tsan/).
TSAN_BIN := $(BUILD)/tsan/test/procpool_tests_tsan
$(TSAN_BIN): $(TESTS) test/helpers.h test/procinfo.h test/chunk_end.h test/tsan/runner.c test/tsan/criterion/criterion.h $(SRC) $(wildcard src/*.h)
	$(MAKE) BUILD=$(BUILD)/tsan CFLAGS="-O1 -g -fsanitize=thread" $(BUILD)/tsan/libprocpool.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -Wno-missing-prototypes -Wno-sign-compare -D_GNU_SOURCE -O1 -g -fsanitize=thread -Itest/tsan $(CPPFLAGS) \
	  $(TESTS) test/tsan/runner.c $(BUILD)/tsan/libprocpool.a $(LDLIBS) -o $@

tsan: $(TSAN_BIN)
	TSAN_OPTIONS="halt_on_error=1 die_after_fork=0 handle_segv=0" setarch -R $(TSAN_BIN) $(TEST_ARGS)
	$(MAKE) BUILD=$(BUILD)/tsan CFLAGS="-O1 -g -fsanitize=thread" LDFLAGS=-fsanitize=thread $(BUILD)/tsan/test/cluster_tests
	TSAN_OPTIONS="halt_on_error=1 die_after_fork=0 handle_segv=0" setarch -R $(BUILD)/tsan/test/cluster_tests

valgrind: $(TEST_BIN)
	valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --suppressions=test/valgrind.supp \
	  --trace-children=yes $(TEST_BIN) --jobs=2 $(TEST_ARGS)

lint: $(LIB)
	python3 tools/lint_structure.py $(LIB) $(wildcard $(MPI_LIB))
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c11 \
	  --suppress=missingIncludeSystem --suppress=preprocessorErrorDirective:src/shm.c -Iinclude src
	clang-tidy --quiet $(SRC) -- -std=c11 $(CPPFLAGS)
	@# the cluster layer when mpicc is here; MPI-Checker cannot follow requests kept in a list (transport_mpi.c)
	if command -v $(MPICC) >/dev/null; then clang-tidy --quiet --checks=-clang-analyzer-optin.mpi.MPI-Checker $(MPI_SRC) -- \
	  -std=c11 $(CPPFLAGS) $$($(MPICC) --showme:compile); fi

format:
	clang-format -i include/*.h src/*.c src/*.h test/*.c test/*.h examples/*.c bench/*.c

# pkg-config: procpool.pc links the shared library; procpool-static.pc names
# the archive itself, so a static link stays static whatever else is installed.
$(BUILD)/%.pc: %.pc.in include/procpool.h
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' $< > $@

# CMake: find_package(procpool) gives the imported target procpool::procpool (static).
$(BUILD)/cmake/%: cmake/%.in include/procpool.h
	@mkdir -p $(dir $@)
	sed -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	  -e 's|@MAJOR@|$(MAJOR)|' $< > $@

# Man pages: generated from docs/api.md, their one source.
man: $(BUILD)/man/man7/procpool.7
$(BUILD)/man/man7/procpool.7: docs/api.md tools/gen_man.py include/procpool.h
	python3 tools/gen_man.py docs/api.md $(BUILD)/man $(VERSION)

INSTALLED := $(LIBDIR)/libprocpool.a $(LIBDIR)/$(SOFULL) $(LIBDIR)/$(SONAME) $(LIBDIR)/libprocpool.so \
  $(INCLUDEDIR)/procpool.h $(PKGCONFIGDIR)/procpool.pc $(PKGCONFIGDIR)/procpool-static.pc \
  $(CMAKEDIR)/procpoolConfig.cmake $(CMAKEDIR)/procpoolConfigVersion.cmake \
  $(MANDIR)/man7/procpool.7 $(patsubst %,$(MANDIR)/man3/%.3,$(MAN3))

install: $(LIB) shared man $(BUILD)/procpool.pc $(BUILD)/procpool-static.pc \
  $(BUILD)/cmake/procpoolConfig.cmake $(BUILD)/cmake/procpoolConfigVersion.cmake
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR) \
	  $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(DOCDIR)
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/$(SOFULL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(SOFULL) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libprocpool.so
	install -m 644 include/procpool.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(BUILD)/procpool.pc $(BUILD)/procpool-static.pc $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 644 $(BUILD)/cmake/procpoolConfig.cmake $(BUILD)/cmake/procpoolConfigVersion.cmake $(DESTDIR)$(CMAKEDIR)/
	install -m 644 $(BUILD)/man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 $(BUILD)/man/man7/procpool.7 $(DESTDIR)$(MANDIR)/man7/
	install -m 644 README.md LICENSE CHANGELOG.md docs/*.md $(DESTDIR)$(DOCDIR)/

# The cluster pool: archive, header and procpool-mpi.pc (builds it with mpicc).
install-mpi: $(MPI_LIB) $(BUILD)/procpool-mpi.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 $(MPI_LIB) $(DESTDIR)$(LIBDIR)/
	install -m 644 include/procpool.h include/procpool_mpi.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(BUILD)/procpool-mpi.pc $(DESTDIR)$(PKGCONFIGDIR)/
INSTALLED += $(LIBDIR)/libprocpool_mpi.a $(INCLUDEDIR)/procpool_mpi.h $(PKGCONFIGDIR)/procpool-mpi.pc

# Removes what install and install-mpi made, and nothing else (folders only where now empty).
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rm -rf $(DESTDIR)$(DOCDIR)
	-rmdir $(DESTDIR)$(CMAKEDIR) 2>/dev/null || true

# Every function of the header has its entry in docs/api.md, and a man page
# generated from it that man renders without a warning.
check-docs: man
	@missing=$$(grep -ho '^PP_API [^(]*(' include/procpool.h include/procpool_mpi.h | grep -o 'pp_[a-z_]*' | \
	  while read f; do grep -q "^### $$f\$$" docs/api.md && [ -f $(BUILD)/man/man3/$$f.3 ] || echo $$f; done); \
	if [ -n "$$missing" ]; then echo "docs/api.md or the man pages lack: $$missing"; exit 1; fi
	@for p in $(BUILD)/man/man3/*.3 $(BUILD)/man/man7/procpool.7; do \
	  w=$$(MANWIDTH=80 man --warnings -l $$p 2>&1 >/dev/null); \
	  if [ -n "$$w" ]; then echo "$$p: $$w"; exit 1; fi; done
	@echo "check-docs: every function documented, every man page renders"

# Builds test/install/prog.c against a temporary prefix three ways: pkg-config
# shared, pkg-config static (and checks the binary needs no libprocpool.so),
# and CMake's find_package. Installs pkg-config and cmake when missing.
CHECK_PREFIX := $(CURDIR)/$(BUILD)/prefix
check-install:
	@need=""; command -v pkg-config >/dev/null || need="$$need pkg-config"; command -v cmake >/dev/null || need="$$need cmake"; \
	if [ -n "$$need" ]; then echo "procpool: installing$$need"; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$need >/dev/null; fi
	rm -rf $(CHECK_PREFIX) $(BUILD)/check-install
	$(MAKE) install PREFIX=$(CHECK_PREFIX)
	@mkdir -p $(BUILD)/check-install
	PKG_CONFIG_PATH=$(CHECK_PREFIX)/lib/pkgconfig; export PKG_CONFIG_PATH; \
	$(CC) -std=c11 test/install/prog.c -o $(BUILD)/check-install/shared $$(pkg-config --cflags --libs procpool) && \
	LD_LIBRARY_PATH=$(CHECK_PREFIX)/lib $(BUILD)/check-install/shared && \
	readelf -d $(BUILD)/check-install/shared | grep -q 'NEEDED.*libprocpool.so.$(MAJOR)' && \
	$(CC) -std=c11 test/install/prog.c -o $(BUILD)/check-install/static $$(pkg-config --cflags --libs procpool-static) && \
	! readelf -d $(BUILD)/check-install/static | grep -q 'NEEDED.*libprocpool' && \
	$(BUILD)/check-install/static
	cmake -S test/install -B $(BUILD)/check-install/cmake -DCMAKE_PREFIX_PATH=$(CHECK_PREFIX) -DCMAKE_C_COMPILER=$(CC) >/dev/null
	cmake --build $(BUILD)/check-install/cmake >/dev/null
	! readelf -d $(BUILD)/check-install/cmake/prog | grep -q 'NEEDED.*libprocpool'
	$(BUILD)/check-install/cmake/prog
	MANPATH=$(CHECK_PREFIX)/share/man man -w pp_submit procpool >/dev/null
	@if command -v $(MPICC) >/dev/null; then \
	  $(MAKE) install-mpi PREFIX=$(CHECK_PREFIX) >/dev/null && \
	  PKG_CONFIG_PATH=$(CHECK_PREFIX)/lib/pkgconfig $(MPICC) -std=c11 examples/mpi/cluster.c -o $(BUILD)/check-install/cluster \
	    $$(PKG_CONFIG_PATH=$(CHECK_PREFIX)/lib/pkgconfig pkg-config --cflags --libs procpool-mpi) && \
	  $(BUILD)/check-install/cluster >/dev/null && echo "check-install: pkg-config procpool-mpi (the cluster example, run alone)"; fi
	$(MAKE) uninstall PREFIX=$(CHECK_PREFIX)
	@left=$$(find $(CHECK_PREFIX) -type f); if [ -n "$$left" ]; then echo "uninstall left: $$left"; exit 1; fi
	@echo "check-install: pkg-config shared, pkg-config static (no libprocpool.so needed), CMake; uninstall clean"

clean:
	rm -rf $(BUILD)
