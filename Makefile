# procpool: make | make test (= make check) | make torture | make demo | make examples | make bench
#           make asan | make tsan | make valgrind | make lint | make format
#           make install [PREFIX=/usr/local DESTDIR=] | make uninstall | make shared
#           make check-install | make check-docs

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -Iinclude
LDLIBS  := -lpthread -lm

SRC     := $(wildcard src/*.c)
OBJ     := $(SRC:src/%.c=$(BUILD)/obj/%.o)
PIC_OBJ := $(SRC:src/%.c=$(BUILD)/pic/%.o)
LIB     := $(BUILD)/libprocpool.a
SONAME  := libprocpool.so.1
TESTS   := $(wildcard test/test_*.c)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
TEST_BIN := $(BUILD)/test/procpool_tests
TORTURE_BIN := $(BUILD)/test/torture
ALLOC_BIN := $(BUILD)/test/alloc_fail

.PHONY: all test check torture demo examples bench asan tsan valgrind lint format install uninstall shared check-install check-docs clean deps

all: $(LIB)

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) include/procpool.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -c $< -o $@

$(LIB): $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/pic/%.o: src/%.c $(wildcard src/*.h) include/procpool.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

shared: $(BUILD)/$(SONAME)
$(BUILD)/$(SONAME): $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)
	ln -sf $(SONAME) $(BUILD)/libprocpool.so

# Criterion is installed on first use when it is missing (Debian/Ubuntu).
deps:
	@if ! echo '#include <criterion/criterion.h>' | $(CC) -E -x c - >/dev/null 2>&1; then \
	  echo "procpool: installing libcriterion-dev"; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libcriterion-dev >/dev/null; \
	fi

$(TEST_BIN): $(TESTS) test/helpers.h $(LIB) | deps
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -Wno-missing-prototypes -D_GNU_SOURCE $(CFLAGS) $(CPPFLAGS) $(TESTS) $(LIB) -lcriterion $(LDLIBS) -o $@

$(TORTURE_BIN): test/torture.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# every allocation of the library fails once (see test/alloc_fail.c)
$(ALLOC_BIN): test/alloc_fail.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) $< $(LIB) -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc $(LDLIBS) -o $@

# The suites, then allocation failure, then a fixed set of torture seeds.
test: $(TEST_BIN) $(ALLOC_BIN) $(TORTURE_BIN)
	$(TEST_BIN) $(TEST_ARGS)
	$(ALLOC_BIN)
	$(TORTURE_BIN) --seeds 16 --quiet

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

bench: $(BENCHES)
	bash bench/run.sh $(BUILD)

# Sanitizer and valgrind runs of the whole suite, each in its own build tree.
asan:
	$(MAKE) BUILD=$(BUILD)/asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" $(BUILD)/asan/test/procpool_tests $(BUILD)/asan/test/torture
	$(ASAN_ENV) $(BUILD)/asan/test/procpool_tests $(TEST_ARGS)
	$(ASAN_ENV) $(BUILD)/asan/test/torture --seeds 6 --quiet
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:handle_segv=0:handle_abort=0 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/test/lsan.supp UBSAN_OPTIONS=print_stacktrace=1

# Criterion cannot start under TSan (Criterion issue #274): the same suites are
# built against a stand-in header and runner (test/tsan/).
TSAN_BIN := $(BUILD)/tsan/test/procpool_tests_tsan
$(TSAN_BIN): $(TESTS) test/helpers.h test/tsan/runner.c test/tsan/criterion/criterion.h $(SRC) $(wildcard src/*.h)
	$(MAKE) BUILD=$(BUILD)/tsan CFLAGS="-O1 -g -fsanitize=thread" $(BUILD)/tsan/libprocpool.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -Wno-missing-prototypes -Wno-sign-compare -D_GNU_SOURCE -O1 -g -fsanitize=thread -Itest/tsan $(CPPFLAGS) \
	  $(TESTS) test/tsan/runner.c $(BUILD)/tsan/libprocpool.a $(LDLIBS) -o $@

tsan: $(TSAN_BIN)
	TSAN_OPTIONS="halt_on_error=1 die_after_fork=0 handle_segv=0" setarch -R $(TSAN_BIN) $(TEST_ARGS)

valgrind: $(TEST_BIN)
	valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	  --trace-children=yes $(TEST_BIN) --jobs=1 $(TEST_ARGS)

lint: $(LIB)
	python3 tools/lint_structure.py $(LIB)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c11 \
	  --suppress=missingIncludeSystem --suppress=preprocessorErrorDirective:src/shm.c -Iinclude src
	clang-tidy --quiet $(SRC) -- -std=c11 $(CPPFLAGS)

format:
	clang-format -i include/*.h src/*.c src/*.h test/*.c test/*.h examples/*.c bench/*.c

VERSION := $(shell sed -n 's/^\#define PP_VERSION_\(MAJOR\|MINOR\|PATCH\) //p' include/procpool.h | paste -sd.)

$(BUILD)/procpool.pc: procpool.pc.in include/procpool.h
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# The shared library is installed too when `make shared` has built it.
install: $(LIB) $(BUILD)/procpool.pc
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/doc/procpool
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/procpool.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/procpool.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/procpool/
	if [ -f $(BUILD)/$(SONAME) ]; then install -m 755 $(BUILD)/$(SONAME) $(DESTDIR)$(PREFIX)/lib/ && \
	  ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libprocpool.so; fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libprocpool.a $(DESTDIR)$(PREFIX)/lib/$(SONAME) \
	  $(DESTDIR)$(PREFIX)/lib/libprocpool.so $(DESTDIR)$(PREFIX)/include/procpool.h \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/procpool.pc
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/procpool

# Every function of the header has its entry in docs/api.md.
check-docs:
	@missing=$$(grep -o '^PP_API [^(]*(' include/procpool.h | grep -o 'pp_[a-z_]*' | \
	  while read f; do grep -q "^### $$f\$$" docs/api.md || echo $$f; done); \
	if [ -n "$$missing" ]; then echo "docs/api.md lacks: $$missing"; exit 1; fi; echo "check-docs: every function documented"

check-install:
	rm -rf $(BUILD)/prefix
	$(MAKE) install PREFIX=$(CURDIR)/$(BUILD)/prefix
	PKG_CONFIG_PATH=$(BUILD)/prefix/lib/pkgconfig $(CC) -std=c11 examples/squares.c -o $(BUILD)/prefix/squares \
	  $$(PKG_CONFIG_PATH=$(BUILD)/prefix/lib/pkgconfig pkg-config --cflags --libs --static procpool)
	@echo "check-install: a program built against the installed procpool"

clean:
	rm -rf $(BUILD)
