# outboxfs — build, test, install.
#
#   make               the daemon ./outboxfs, the core library, test tools
#   make check         every test, then the unit and transcript tests again
#                      under AddressSanitizer + UndefinedBehaviorSanitizer
#   make demo          a message sent through a real mount to a local server
#   make bench         speed beside msmtp and Postfix's smtp-source
#   make torture       the crash matrix at scale: 2,000 messages, 100
#                      kill -9 cycles against a faulty server (CRASH_SEED=N
#                      replays a run); not part of make check
#   make fuzz          libFuzzer targets (clang)
#   make install       PREFIX=/usr/local DESTDIR=

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
B       ?= build
SAN     ?=

PKG_CFLAGS := $(shell pkg-config --cflags fuse3 openssl 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs openssl 2>/dev/null)
FUSE_LIBS  := $(shell pkg-config --libs fuse3 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PKG_CFLAGS) -I. \
	-pthread -MMD -MP
ifeq ($(SAN),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
SAN_LDFLAGS = -fsanitize=address,undefined
endif
LDLIBS_CORE = $(PKG_LIBS) -pthread

CORE_SRC := $(sort $(wildcard smtp/*.c config/*.c util/*.c))
FS_SRC   := $(sort $(wildcard fs/*.c))
FS_LIB_SRC := $(filter-out fs/main.c,$(FS_SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRC := $(filter-out tests/tools/faultshim.c,$(sort $(wildcard tests/tools/*.c)))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
# outboxfs-sendmail: its main, and a library of the rest (unit-tested);
# it links the drop, follow and spool code of libfs, never FUSE.
SM_LIB_SRC := $(filter-out sendmail/sendmail.c,$(sort $(wildcard sendmail/*.c)))

CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o)
FS_OBJ   := $(FS_LIB_SRC:%.c=$(B)/%.o)
LIBCORE  := $(B)/libcore.a
LIBFS    := $(B)/libfs.a
SM_OBJ   := $(SM_LIB_SRC:%.c=$(B)/%.o)
LIBSM    := $(B)/libsm.a
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%) $(B)/tools/faultshim.so

ifeq ($(B),build)
DAEMON := outboxfs
SENDMAIL_BIN := outboxfs-sendmail
else
DAEMON := $(B)/outboxfs
SENDMAIL_BIN := $(B)/outboxfs-sendmail
endif

.PHONY: all check unit integration check-san demo bench torture fuzz \
	install clean
all: $(LIBCORE) $(DAEMON) $(SENDMAIL_BIN) $(TOOL_BIN) $(UNIT_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The spool outboxfs-sendmail uses for a user without a configuration of
# their own: the system-wide outbox's (outboxfs(1), A SYSTEM-WIDE OUTBOX).
SYSTEM_SPOOL ?= /var/spool/outboxfs
$(B)/sendmail/sendmail.o: ALL_CFLAGS += -DSM_SYSTEM_SPOOL='"$(SYSTEM_SPOOL)"'

$(LIBCORE): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBFS): $(FS_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $(FS_OBJ)

$(DAEMON): $(B)/fs/main.o $(LIBFS) $(LIBCORE)
	$(CC) $(SAN_LDFLAGS) $(LDFLAGS) -o $@ $^ $(FUSE_LIBS) $(LDLIBS_CORE)

$(LIBSM): $(SM_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $(SM_OBJ)

# No FUSE library: it must run where FUSE is not installed.
$(SENDMAIL_BIN): $(B)/sendmail/sendmail.o $(LIBSM) $(LIBFS) $(LIBCORE)
	$(CC) $(SAN_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_CORE)

$(B)/tests/%: tests/unit/%.c $(LIBSM) $(LIBFS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_LDFLAGS) $(LDFLAGS) -o $@ $< $(LIBSM) \
		$(LIBFS) $(LIBCORE) $(CMOCKA_LIBS) $(FUSE_LIBS) $(LDLIBS_CORE)

$(B)/tools/%: tests/tools/%.c $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_LDFLAGS) $(LDFLAGS) -o $@ $< $(LIBCORE) \
		$(LDLIBS_CORE)

# nullfs, the FUSE bound of make bench, links libfuse3 as the daemon does.
$(B)/tools/nullfs: LDLIBS_CORE += $(FUSE_LIBS)

# diskcommit, its disk bound, commits with the spool's own code.
$(B)/tools/diskcommit: tests/tools/diskcommit.c $(LIBFS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_LDFLAGS) $(LDFLAGS) -o $@ $< $(LIBFS) \
		$(LIBCORE) $(FUSE_LIBS) $(LDLIBS_CORE)

# The fault-injection shim is LD_PRELOADed into the daemon: a plain shared
# object, without the sanitizers even in the SAN build.
$(B)/tools/faultshim.so: tests/tools/faultshim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -fPIC -shared \
		-o $@ $< -ldl

# Unit tests (cmocka), then the transcript and mount tests. The runner
# prints one "N passed, N failed, N skipped" line and fails if any failed.
check: all
	tests/run-unit.sh $(B)
	tests/run-integration.sh $(B)
	$(MAKE) check-san

unit: all
	tests/run-unit.sh $(B)

integration: all
	tests/run-integration.sh $(B)

# The same unit and transcript tests built with ASan + UBSan.
check-san:
	$(MAKE) B=build/san SAN=1 all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		tests/run-unit.sh build/san
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
		OUTBOXFS_SAN=1 tests/run-integration.sh build/san

# The package check comes first: the build itself needs the packages.
demo:
	tests/demo.sh --deps
	$(MAKE) B=$(B) all
	B=$(B) tests/demo.sh

bench: all
	B=$(B) tests/bench.sh

# tests/integration/crash_matrix.sh (200 messages, 20 kills in make check)
# at scale. It prints its seed; CRASH_SEED=N make torture replays it.
torture: all
	CRASH_MSGS=2000 CRASH_CYCLES=100 OUTBOXFS=$(CURDIR)/$(DAEMON) \
		TOOLS=$(CURDIR)/$(B)/tools bash tests/integration/crash_matrix.sh

FUZZ_CC ?= clang
fuzz:
	@mkdir -p $(B)/fuzz
	for f in $(FUZZ_SRC); do \
		n=$$(basename $$f .c); \
		$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) \
			-fsanitize=fuzzer,address,undefined -o $(B)/fuzz/$$n \
			$$f $(CORE_SRC) $(FS_LIB_SRC) $(PKG_LIBS) $(FUSE_LIBS) \
			-pthread || exit 1; \
	done

# SENDMAIL=1 also makes sbin/sendmail and bin/mailq point to
# outboxfs-sendmail, as the msmtp-mta package does. MAILDROP_GROUP=G
# installs outboxfs-sendmail setgid G (2755), for a system-wide outbox
# whose configuration says maildrop_group G (as Postfix's postdrop).
MAILDROP_GROUP ?=
install: $(DAEMON) $(SENDMAIL_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(DAEMON) $(DESTDIR)$(PREFIX)/bin/outboxfs
	install -m 0755 $(SENDMAIL_BIN) \
		$(DESTDIR)$(PREFIX)/bin/outboxfs-sendmail
ifneq ($(MAILDROP_GROUP),)
	chgrp $(MAILDROP_GROUP) $(DESTDIR)$(PREFIX)/bin/outboxfs-sendmail
	chmod 2755 $(DESTDIR)$(PREFIX)/bin/outboxfs-sendmail
endif
	install -m 0644 man/outboxfs.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 man/outboxfs.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 man/outboxfs-sendmail.8 \
		$(DESTDIR)$(PREFIX)/share/man/man8/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/user \
		$(DESTDIR)$(PREFIX)/share/doc/outboxfs
	sed 's|@BINDIR@|$(PREFIX)/bin|' dist/outboxfs.service.in \
		>$(DESTDIR)$(PREFIX)/lib/systemd/user/outboxfs.service
	install -m 0644 dist/config.example \
		$(DESTDIR)$(PREFIX)/share/doc/outboxfs/config.example
ifeq ($(SENDMAIL),1)
	install -d $(DESTDIR)$(PREFIX)/sbin
	ln -sf ../bin/outboxfs-sendmail $(DESTDIR)$(PREFIX)/sbin/sendmail
	ln -sf outboxfs-sendmail $(DESTDIR)$(PREFIX)/bin/mailq
endif

clean:
	rm -rf build outboxfs outboxfs-sendmail

-include $(CORE_OBJ:.o=.d) $(FS_OBJ:.o=.d) $(B)/fs/main.d $(SM_OBJ:.o=.d) \
	$(B)/sendmail/sendmail.d
