# veo-callback: configure-less build.  GNU make.
#
#   make                 build/veo-callback and build/veo-spooler
#   make test            install test dependencies (Debian), build, run every test
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
PKGS    := fcgi yajl libcurl libcrypto

# pkg-config when it knows the packages, plain -l flags otherwise.
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lfcgi -lyajl -lcurl -lcrypto)

OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wformat-security \
            -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla \
            -Wno-unused-parameter
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection \
            -fPIE -fno-strict-overflow
LDHARDEN := -pie -Wl,-z,relro,-z,now -Wl,--as-needed
DEFS     := -D_GNU_SOURCE -DVEO_VERSION='"$(VERSION)"'

ALL_CFLAGS  = -std=c11 $(OPT) $(WARN) $(HARDEN) $(DEFS) -Isrc $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDHARDEN) $(LDFLAGS)

B := build
LIB_SRC  := $(filter-out src/veo-spooler.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(B)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)

# Sanitizer build of the same sources and unit tests, under build/asan.
ASAN_FLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=all $(WARN) $(DEFS) -Isrc $(PKG_CFLAGS) $(CFLAGS)
ASAN_OBJ := $(LIB_SRC:src/%.c=$(B)/asan/obj/%.o)
ASAN_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/asan/tests/%)

.PHONY: all test check deps unit asan tools install uninstall clean run bench
.DELETE_ON_ERROR:

all: $(B)/veo-callback $(B)/veo-spooler

$(B)/obj/%.o: src/%.c src/*.h | $(B)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libveo.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(B)/veo-callback: cgi/veo-callback.c $(B)/libveo.a src/*.h
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(B)/libveo.a $(PKG_LIBS)

$(B)/veo-spooler: src/veo-spooler.c $(B)/libveo.a src/*.h
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(B)/libveo.a $(PKG_LIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/tap.h $(B)/libveo.a | $(B)/tests
	$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(B)/libveo.a $(PKG_LIBS)

$(B)/tools/%: tests/tools/%.c $(B)/libveo.a | $(B)/tools
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(B)/libveo.a $(PKG_LIBS)

$(B)/asan/obj/%.o: src/%.c src/*.h | $(B)/asan/obj
	$(CC) $(ASAN_FLAGS) -c -o $@ $<

$(B)/asan/libveo.a: $(ASAN_OBJ)
	$(AR) rcs $@ $^

$(B)/asan/tests/%: tests/unit/%.c tests/unit/tap.h $(B)/asan/libveo.a | $(B)/asan/tests
	$(CC) $(ASAN_FLAGS) -Itests/unit -o $@ $< $(B)/asan/libveo.a $(PKG_LIBS)

$(B)/obj $(B)/tests $(B)/tools $(B)/asan/obj $(B)/asan/tests:
	mkdir -p $@

unit: $(UNIT_BIN)
asan: $(ASAN_BIN)
tools: $(TOOL_BIN)

# Installs the Debian packages the tests need (or says exactly how), then
# runs every test through prove: unit tests, their sanitizer build, and the
# shell tests that drive the real binaries, nginx and Apache.
test: deps
	$(MAKE) all unit asan tools
	prove -f --exec '' $(UNIT_BIN) $(ASAN_BIN) tests/*.t

check: test

deps:
	@sh tests/lib/install-deps.sh

bench: all tools
	sh bench/responder.sh
	sh bench/download.sh

# Binaries, man pages (their doc paths rewritten to DOCDIR), and the shipped
# configuration examples under DOCDIR.  Nothing is written to /etc.
MAN8     := $(wildcard docs/*.8)
MAN5     := $(wildcard docs/*.5)
EXAMPLES := $(wildcard examples/*)
CONFEX   := nginx.conf.example apache.conf.example

install: all
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
