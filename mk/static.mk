# Static programs for hosts without a compiler or our libraries (issue 12),
# included from the Makefile.
#
#   make static   build/static/veo-callback and build/static/veo-spooler:
#                 no shared library at all (static PIE), stripped
#   make dist     build/veo-callback-VERSION-linux-ARCH.tar.gz: both, the
#                 man pages, the examples and README, for a shared host
#
# Both link Debian's static libraries (libfcgi.a, libyajl_s.a, libcrypto.a,
# libssl.a, libcares.a, libnghttp2.a, libz.a) and the archives of the
# ordinary build.  The spooler's libcurl is built by
# tools/build-static-curl.sh from Debian's source package, once: it is
# kept in build/static-deps/ and rebuilt only when that script changes.
#
# src/static/standalone.c replaces, through ld --wrap, the glibc functions
# that would load NSS modules or shared objects at run time, and
# --fatal-warnings turns the linker's "Using 'getaddrinfo' in statically
# linked applications requires..." into an error, so no such function can
# come back unnoticed.
#
# The tests take their programs from BINDIR_UNDER_TEST (default build):
#   make test BINDIR_UNDER_TEST=build/static

STATIC      := $(B)/static
STATIC_DEPS := $(B)/static-deps
STATIC_CURL := $(STATIC_DEPS)/curl
STATIC_WRAP := gethostbyname getaddrinfo freeaddrinfo getnameinfo getservbyname getservbyport_r \
               dlopen dlerror
STATIC_LDFLAGS = -static-pie -Wl,-z,relro,-z,now -Wl,--gc-sections -Wl,--fatal-warnings \
                 $(foreach f,$(STATIC_WRAP),-Wl,--wrap=$(f)) -s $(LDFLAGS)
# Where the compiler finds libNAME.a; the bare name when it does not, so
# that the link fails naming it.
static_libs = $(foreach l,$(1),$(shell $(CC) -print-file-name=lib$(l).a))
STATIC_RESPONDER_LIBS = $(call static_libs,fcgi yajl_s crypto)
STATIC_SPOOLER_LIBS   = $(STATIC_CURL)/lib/libcurl.a $(call static_libs,nghttp2 cares ssl crypto z yajl_s)

DIST_ARCH := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine)))
DIST_NAME := veo-callback-$(VERSION)-linux-$(DIST_ARCH)
DIST      := $(B)/$(DIST_NAME).tar.gz

export BINDIR_UNDER_TEST

.PHONY: static dist static-curl

static: $(STATIC)/veo-callback $(STATIC)/veo-spooler

static-curl: $(STATIC_CURL)/lib/libcurl.a

$(STATIC)/standalone.o: src/static/standalone.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(STATIC)/veo-callback: cgi/veo-callback.c $(STATIC)/standalone.o $(RESPONDER_A) $(COMMON_A) $(HDRS)
	$(CC) $(ALL_CFLAGS) $(STATIC_LDFLAGS) -o $@ $< $(STATIC)/standalone.o \
		$(RESPONDER_A) $(COMMON_A) $(STATIC_RESPONDER_LIBS)

$(STATIC_CURL)/lib/libcurl.a: tools/build-static-curl.sh
	JOBS=2 sh tools/build-static-curl.sh $(STATIC_DEPS)

# libspooler.a was compiled against Debian's libcurl headers: the same
# curl release as the static library, so the same interface.
$(STATIC)/veo-spooler: src/spooler/veo-spooler.c $(STATIC)/standalone.o $(SPOOLER_A) $(COMMON_A) \
		$(STATIC_CURL)/lib/libcurl.a $(HDRS)
	$(CC) -I$(STATIC_CURL)/include $(ALL_CFLAGS) $(STATIC_LDFLAGS) -o $@ $< $(STATIC)/standalone.o \
		$(SPOOLER_A) $(COMMON_A) $(STATIC_SPOOLER_LIBS)

# The tarball unpacks into one directory; the programs at its top.
dist: $(DIST)
	@echo $(DIST)

$(DIST): $(STATIC)/veo-callback $(STATIC)/veo-spooler $(MAN8) $(MAN5) $(EXAMPLES) $(CONFEX) README.md
	rm -rf $(B)/dist && mkdir -p $(B)/dist/$(DIST_NAME)/man $(B)/dist/$(DIST_NAME)/examples
	install -m 0755 $(STATIC)/veo-callback $(STATIC)/veo-spooler $(B)/dist/$(DIST_NAME)/
	install -m 0644 $(MAN8) $(MAN5) $(B)/dist/$(DIST_NAME)/man/
	install -m 0644 $(EXAMPLES) $(B)/dist/$(DIST_NAME)/examples/
	install -m 0644 $(CONFEX) README.md $(B)/dist/$(DIST_NAME)/
	tar -C $(B)/dist --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime=@$$(git log -1 --format=%ct 2>/dev/null || date +%s) \
		-czf $@.tmp $(DIST_NAME) && mv $@.tmp $@
	rm -rf $(B)/dist
