# veo-callback: configure-less build.  GNU make.
#
#   make                 build/veo-callback and build/veo-spooler
#   make test            install test dependencies (Debian), build, run every test
#   make static, dist    static programs and the upload tarball (mk/static.mk)
#   make install         PREFIX=/usr/local DESTDIR=
#   make clean

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/veo-callback
DESTDIR ?=

VERSION := 0.1.0
CC      ?= cc
PKG_CONFIG ?= pkg-config

# pkg-config when it knows the packages, plain -l flags otherwise.  Each
# program links only the libraries it uses: the responder never links
# libcurl (tests/layout.t checks it).
pkg_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pkg_libs   = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null || echo $(2))
PKG_CFLAGS    := $(call pkg_cflags,fcgi yajl libcurl libcrypto)
RESPONDER_LIBS := $(call pkg_libs,fcgi yajl libcrypto,-lfcgi -lyajl -lcrypto)
SPOOLER_LIBS   := $(call pkg_libs,yajl libcurl libcrypto,-lyajl -lcurl -lcrypto)
ALL_LIBS       := $(call pkg_libs,fcgi yajl libcurl libcrypto,-lfcgi -lyajl -lcurl -lcrypto)

OPT      ?= -O2 -g
# -Werror is for CI and developers (WERROR=-Werror, as .ci/run sets it): a
# newer compiler's new warning must not break a user's build.
WERROR   ?=
WARN     := -Wall -Wextra $(WERROR) -Wshadow -Wformat=2 -Wformat-security \
            -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla \
            -Wno-unused-parameter
HARDEN   := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
            -fstack-clash-protection -fPIE -fno-strict-overflow
LDHARDEN := -pie -Wl,-z,relro,-z,now -Wl,--as-needed
DEFS     := -D_GNU_SOURCE -DVEO_VERSION='"$(VERSION)"'

# The modules, one folder a program (docs/DESIGN.md, "Layout"):
#   src/common     both programs: config, log, digest, fsutil, taskId rule,
#                  callback parser, entry format, spool protocol
#   src/responder  veo-callback's request checks and authentication
#   src/spooler    veo-spooler: sweep, tasks, claims, hooks, downloads
INCLUDES := -Isrc/common -Isrc/responder -Isrc/spooler
ALL_CFLAGS  = -std=c11 $(OPT) $(WARN) $(HARDEN) $(DEFS) $(INCLUDES) $(PKG_CFLAGS) \
              $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDHARDEN) $(LDFLAGS)

B := build
HDRS          := $(wildcard src/*/*.h)
COMMON_SRC    := $(wildcard src/common/*.c)
RESPONDER_SRC := $(wildcard src/responder/*.c)
SPOOLER_SRC   := $(filter-out src/spooler/veo-spooler.c,$(wildcard src/spooler/*.c))
LIB_SRC       := $(COMMON_SRC) $(RESPONDER_SRC) $(SPOOLER_SRC)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)
# The header-only helpers the unit tests and the tools share among themselves.
UNIT_HDR := $(wildcard tests/unit/*.h)
TOOL_HDR := $(wildcard tests/tools/*.h)
# LD_PRELOAD shims that let tests stop a program at an exact point.
SHIM_SRC := $(wildcard tests/shim/*.c)
SHIM_LIB := $(SHIM_SRC:tests/shim/%.c=$(B)/shim/%.so)

# One archive a folder; objects under build/obj/<folder>/.
archive = $(patsubst src/%.c,$(1)/obj/%.o,$(2))
COMMON_A    := $(B)/libcommon.a
RESPONDER_A := $(B)/libresponder.a
SPOOLER_A   := $(B)/libspooler.a
# Unit tests and tools may use any module.
TEST_ARCHIVES = $(SPOOLER_A) $(RESPONDER_A) $(COMMON_A)

# Sanitizer build of the same sources and unit tests, under build/asan.
ASAN_FLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=all $(WARN) $(DEFS) $(INCLUDES) $(PKG_CFLAGS) \
              $(CPPFLAGS) $(CFLAGS)
ASAN_ARCHIVES := $(B)/asan/libspooler.a $(B)/asan/libresponder.a $(B)/asan/libcommon.a
ASAN_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/asan/tests/%)

# libFuzzer harnesses (tests/fuzz/fuzz_*.c) over the same sources, built
# with clang, ASan and UBSan under build/fuzz.  `make fuzz FUZZ_TIME=60`
# runs each for that many seconds; tests/fuzz.t replays the seed corpora
# and fuzzes each target briefly.
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_FLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) $(WARN) $(DEFS) \
              $(INCLUDES) $(PKG_CFLAGS) $(CPPFLAGS)
FUZZ_TARGETS  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN      := $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)
FUZZ_ARCHIVES := $(B)/fuzz/libspooler.a $(B)/fuzz/libresponder.a $(B)/fuzz/libcommon.a

.PHONY: all test check deps unit asan tools install installable uninstall clean run bench fuzz fuzzers \
	analyze analyze-clang analyze-cppcheck analyze-tidy analyze-fanalyzer
.DELETE_ON_ERROR:

all: $(B)/veo-callback $(B)/veo-spooler

$(B)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(COMMON_A): $(call archive,$(B),$(COMMON_SRC))
$(RESPONDER_A): $(call archive,$(B),$(RESPONDER_SRC))
$(SPOOLER_A): $(call archive,$(B),$(SPOOLER_SRC))
$(B)/asan/libcommon.a: $(call archive,$(B)/asan,$(COMMON_SRC))
$(B)/asan/libresponder.a: $(call archive,$(B)/asan,$(RESPONDER_SRC))
$(B)/asan/libspooler.a: $(call archive,$(B)/asan,$(SPOOLER_SRC))
%.a:
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/veo-callback: cgi/veo-callback.c $(RESPONDER_A) $(COMMON_A) $(HDRS)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(RESPONDER_A) $(COMMON_A) $(RESPONDER_LIBS)

$(B)/veo-spooler: src/spooler/veo-spooler.c $(SPOOLER_A) $(COMMON_A) $(HDRS)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(SPOOLER_A) $(COMMON_A) $(SPOOLER_LIBS)

$(B)/tests/%: tests/unit/%.c $(UNIT_HDR) $(TEST_ARCHIVES)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(TEST_ARCHIVES) $(ALL_LIBS)

$(B)/tools/%: tests/tools/%.c $(TOOL_HDR) $(TEST_ARCHIVES)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(TEST_ARCHIVES) $(ALL_LIBS)

$(B)/shim/%.so: tests/shim/%.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra $(WERROR) -shared -fPIC -o $@ $< -ldl

$(B)/asan/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(ASAN_FLAGS) -c -o $@ $<

$(B)/asan/tests/%: tests/unit/%.c $(UNIT_HDR) $(ASAN_ARCHIVES)
	@mkdir -p $(@D)
	$(CC) $(ASAN_FLAGS) -Itests/unit -o $@ $< $(ASAN_ARCHIVES) $(ALL_LIBS)

$(B)/fuzz/libcommon.a: $(call archive,$(B)/fuzz,$(COMMON_SRC))
$(B)/fuzz/libresponder.a: $(call archive,$(B)/fuzz,$(RESPONDER_SRC))
$(B)/fuzz/libspooler.a: $(call archive,$(B)/fuzz,$(SPOOLER_SRC))

$(B)/fuzz/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_ARCHIVES)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(FUZZ_ARCHIVES) $(ALL_LIBS)

unit: $(UNIT_BIN)
asan: $(ASAN_BIN)
tools: $(TOOL_BIN) $(SHIM_LIB)
fuzzers: $(FUZZ_BIN)

# Each target for FUZZ_TIME seconds (FUZZ_TARGETS="callback entry" for some);
# new inputs go to build/fuzz/corpus/<target>, crashes to build/fuzz/artifacts.
fuzz: fuzzers
	sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

# Installs the Debian packages the tests need (or says exactly how), then
# runs every test through prove: unit tests, their sanitizer build, and the
# shell tests that drive the real binaries, nginx and Apache.
test: deps
	$(MAKE) all unit asan tools static
	prove -f --exec '' $(UNIT_BIN) $(ASAN_BIN) tests/*.t

check: test

# Static analysis (tests/analyze.t runs each step): the clang build with
# -Werror, cppcheck, clang-tidy (/.clang-tidy) and gcc -fanalyzer over src/
# and cgi/, each clean or each finding listed with its reason in
# tests/analysis/*.supp.
ANALYZE_FLAGS = -std=c11 $(DEFS) $(INCLUDES) $(PKG_CFLAGS) $(CPPFLAGS)
analyze: analyze-clang analyze-cppcheck analyze-tidy analyze-fanalyzer
analyze-clang:
	@$(MAKE) --no-print-directory B=$(B)/clang CC=clang WERROR=-Werror all unit tools
analyze-cppcheck analyze-tidy analyze-fanalyzer: export ANALYZE_FLAGS := $(ANALYZE_FLAGS)
analyze-cppcheck analyze-tidy analyze-fanalyzer:
	@sh tests/analysis/run.sh $(@:analyze-%=%)


deps:
	@sh tests/lib/install-deps.sh

# The packages the benchmarks use (wrk, aria2, Flask, ...) are installed as
# for the tests; without them (not root) each benchmark says what it skips.
bench: all tools
	@sh tests/lib/install-deps.sh || echo "make bench: some packages are missing (see above); the benchmarks that need them say skipped"
	sh bench/responder.sh
	sh bench/download.sh
	sh bench/delivery.sh
	bash bench/growth.sh

# Binaries, man pages (their doc paths rewritten to DOCDIR), and the shipped
# configuration examples under DOCDIR.  Nothing is written to /etc.
MAN8     := $(wildcard docs/*.8)
MAN5     := $(wildcard docs/*.5)
EXAMPLES := $(wildcard examples/*)
CONFEX   := nginx.conf.example apache.conf.example

# Root installs what was built and never compiles in the tree (build as
# yourself with make, then install as root): missing or out-of-date
# binaries stop the install with the command to run.  Other users get the
# usual install: all (e.g. into a DESTDIR).
ifeq ($(shell id -u 2>/dev/null),0)
install: installable
else
install: all
endif

installable:
	@for f in $(B)/veo-callback $(B)/veo-spooler; do \
		[ -x "$$f" ] || { echo "make install: $$f is missing; build first as your user" \
			"(make), then run make install as root" >&2; exit 1; }; \
	done
	@$(MAKE) --no-print-directory -q all 2>/dev/null || { echo "make install: the programs in" \
		"$(B)/ are older than their sources; run make as your user first" >&2; exit 1; }

install:
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(B)/veo-callback $(DESTDIR)$(SBINDIR)/veo-callback
	install -m 0755 $(B)/veo-spooler $(DESTDIR)$(BINDIR)/veo-spooler
	for m in $(MAN8); do sed 's#/usr/local/share/doc/veo-callback#$(DOCDIR)#g' $$m \
		>$(DESTDIR)$(MANDIR)/man8/$${m##*/} && chmod 0644 $(DESTDIR)$(MANDIR)/man8/$${m##*/} || exit 1; done
	for m in $(MAN5); do sed 's#/usr/local/share/doc/veo-callback#$(DOCDIR)#g' $$m \
		>$(DESTDIR)$(MANDIR)/man5/$${m##*/} && chmod 0644 $(DESTDIR)$(MANDIR)/man5/$${m##*/} || exit 1; done
	install -m 0644 $(CONFEX) $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/veo-callback $(DESTDIR)$(BINDIR)/veo-spooler
	rm -f $(MAN8:docs/%=$(DESTDIR)$(MANDIR)/man8/%) $(MAN5:docs/%=$(DESTDIR)$(MANDIR)/man5/%)
	rm -f $(CONFEX:%=$(DESTDIR)$(DOCDIR)/%) $(EXAMPLES:examples/%=$(DESTDIR)$(DOCDIR)/examples/%)
	rm -f $(DESTDIR)$(DOCDIR)/README.md
	rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true

# A working local stack on 127.0.0.1:8080 (PORT=... to change): nginx, the
# responder over FastCGI, a spooler sweep every 10 s, all under ./var/.
# Ctrl-C stops everything.
run: deps
	@$(MAKE) --no-print-directory all
	@exec bash tools/run-local.sh

clean:
	rm -rf $(B)

# ---- static programs and the release tarball: make static, make dist ----
include mk/static.mk
