# tdxsim - a hardware-free simulator of Intel TDX private memory.
# Plain GNU Make: `make` builds libtdxsim.a and the tdxsim binary;
# `make check` builds and runs every test; `make demo`; `make bench`;
# `make install PREFIX=...` and `make uninstall` (see below).
# SAN=1 builds everything with AddressSanitizer and UBSan in build/san.

VERSION := 0.1.0
CC      ?= cc
SAN     ?= 0

ifeq ($(SAN),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT     := -O1 -g
else
BUILD   := build/rel
SANFLAGS :=
OPT     := -O3 -g
endif

# PORTABLE=1: the ucontext context switch instead of the x86-64 assembly one
PORTABLE ?= 0
ifeq ($(PORTABLE),1)
BUILD   := $(BUILD)-portable
CFLAGS  += -DTDXSIM_UCONTEXT
endif

# a clang build goes to its own directory (CI checks both compilers)
ifneq ($(findstring clang,$(CC)),)
BUILD   := $(BUILD)-clang
endif

# Link-time optimization for gcc release builds (LTO=0 turns it off): the
# fault path crosses a dozen small functions in as many files (one file per
# SEAMCALL leaf), and inlining across them is worth about 1.3x there.
LTO     ?= $(if $(filter 0,$(SAN)),$(if $(findstring clang,$(CC)),0,1),0)
ifeq ($(LTO),1)
LTOFLAGS := -flto=auto
AR      := gcc-ar
else
LTOFLAGS :=
endif

WARN    := -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes \
           -Wshadow -Wpointer-arith -Wvla -Wno-missing-field-initializers
CFLAGS  ?=
CFLAGS  += -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $(OPT) $(WARN) \
           $(SANFLAGS) $(LTOFLAGS) -DTDXSIM_VERSION='"$(VERSION)"' -MMD -MP
LDFLAGS += $(SANFLAGS) $(LTOFLAGS)
LDLIBS  := -lcrypto -linih -ljansson

# one line per object, kvmtool style
OBJS += src/engine/seam.o
OBJS += src/engine/task.o
OBJS += src/engine/engine.o
OBJS += src/engine/sched.o
OBJS += src/engine/vtime.o
OBJS += src/engine/simheap.o
OBJS += src/module/physmem.o
OBJS += src/module/pamt.o
OBJS += src/module/sept.o
OBJS += src/module/module.o
OBJS += src/module/mrtd.o
OBJS += src/module/invariants.o
OBJS += src/module/seamcall.o
OBJS += src/module/td_exit.o
OBJS += src/module/td_ept_violation.o
OBJS += src/module/tdg_mem_page_accept.o
OBJS += src/module/tdg_mem_page_attr_rd.o
OBJS += src/module/tdg_mem_page_attr_wr.o
OBJS += src/module/tdg_vp_info.o
OBJS += src/module/tdg_vm_rd_wr.o
OBJS += src/module/tdg_vp_veinfo_get.o
OBJS += src/module/tdh_mng_create.o
OBJS += src/module/tdh_mng_key_config.o
OBJS += src/module/tdh_mng_addcx.o
OBJS += src/module/tdh_mng_init.o
OBJS += src/module/tdh_vp_create.o
OBJS += src/module/tdh_vp_addcx.o
OBJS += src/module/tdh_vp_init.o
OBJS += src/module/tdh_vp_enter.o
OBJS += src/module/tdh_vp_flush.o
OBJS += src/module/tdh_mng_vpflushdone.o
OBJS += src/module/tdh_phymem_cache_wb.o
OBJS += src/module/tdh_mng_key_freeid.o
OBJS += src/module/tdh_phymem_page_reclaim.o
OBJS += src/module/tdh_phymem_page_wbinvd.o
OBJS += src/module/tdh_phymem_pamt_add.o
OBJS += src/module/tdh_phymem_pamt_remove.o
OBJS += src/module/tdh_mem_sept_add.o
OBJS += src/module/tdh_mem_sept_remove.o
OBJS += src/module/tdh_mem_sept_rd.o
OBJS += src/module/tdh_mem_page_add.o
OBJS += src/module/tdh_mem_page_aug.o
OBJS += src/module/tdh_mem_page_remove.o
OBJS += src/module/tdh_mem_range_block.o
OBJS += src/module/tdh_mem_page_demote.o
OBJS += src/module/tdh_mem_page_promote.o
OBJS += src/module/tdh_mem_page_relocate.o
OBJS += src/module/tdh_mem_range_unblock.o
OBJS += src/module/tdh_mem_track.o
OBJS += src/module/tdh_mr_extend.o
OBJS += src/module/tdh_mr_finalize.o
OBJS += src/host/bringup.o
OBJS += src/guest/guest.o
OBJS += src/guest/shadow.o
OBJS += src/guest/linux.o
OBJS += src/guest/tdvf_fw.o
OBJS += src/host/simple_host.o
OBJS += src/host/hostmem.o
OBJS += src/host/gmem.o
OBJS += src/host/mmu.o
OBJS += src/host/dpamt.o
OBJS += src/host/tdx.o
OBJS += src/host/vm.o
OBJS += src/host/check.o

CLI_OBJS := src/cli/main.o src/cli/demo.o
CLI_OBJS += src/cli/measure.o
CLI_OBJS += src/cli/cmd_map.o
# the scenario files and the commands that run them (also linked into test_cli)
SC_OBJS += src/cli/tdvf.o
SC_OBJS += src/cli/tdhob.o
SC_OBJS += src/cli/scenario.o
SC_OBJS += src/cli/sc_run.o
SC_OBJS += src/cli/cmd_scenario.o
SC_OBJS += src/cli/trace.o
SC_OBJS += gen/costs_builtin.o
CLI_OBJS += $(SC_OBJS)

TESTS := $(patsubst tests/%.c,%,$(filter-out tests/testlib.c,$(wildcard tests/test_*.c)))
BENCHES := bench/bench bench/explore bench/scale

LIB := $(BUILD)/libtdxsim.a
BIN := $(BUILD)/tdxsim

.PHONY: all check demo bench bench-scale deps clean
.SECONDARY:
all: $(LIB) $(BIN) tdxsim

# convenience link at the top of the tree
tdxsim: $(BIN)
	@ln -sf $(BIN) tdxsim

V ?= 0
Q := $(if $(filter 1,$(V)),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(addprefix $(BUILD)/,$(OBJS))
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(AR) rcs $@ $^

$(BIN): $(addprefix $(BUILD)/,$(CLI_OBJS)) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/testlib.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# test_tdvf also links the TDVF parser and builder, which live with the command line
$(BUILD)/tests/test_tdvf: $(BUILD)/tests/test_tdvf.o $(BUILD)/tests/testlib.o $(BUILD)/src/cli/tdvf.o \
		$(BUILD)/src/cli/tdhob.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# the calibrated cost table, compiled into the command as a string
%/gen/costs_builtin.c: costs/calibrated.ini
	@mkdir -p $(dir $@)
	$(Q){ echo '/* generated from costs/calibrated.ini: do not edit */'; \
	  echo 'extern const char tdxsim_costs_builtin[];'; \
	  echo 'const char tdxsim_costs_builtin[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; echo ';'; } > $@
$(BUILD)/gen/costs_builtin.o: $(BUILD)/gen/costs_builtin.c
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# 'tdxsim list scenarios' finds the installed ones there (or ./scenarios, $$TDXSIM_SCENARIOS)
$(BUILD)/src/cli/cmd_scenario.o: CFLAGS += -DTDXSIM_DATADIR='"$(DATADIR)"'

# the scenario tests link the command's scenario code
$(BUILD)/tests/test_cli $(BUILD)/tests/test_check $(BUILD)/tests/test_linux \
		$(BUILD)/tests/test_tdvf_fw: $(BUILD)/tests/%: $(BUILD)/tests/%.o \
		$(BUILD)/tests/testlib.o $(addprefix $(BUILD)/,$(SC_OBJS)) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/test_inject: $(BUILD)/tests/test_inject.o $(BUILD)/tests/testlib.o $(addprefix $(BUILD)/,$(SC_OBJS)) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/bench/bench: $(BUILD)/bench/bench.o $(BUILD)/bench/kvm_fault.o $(LIB) | $(BUILD)/bench/explore
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the exploration figures: the scenario code, kept out of bench's own binary
$(BUILD)/bench/explore: $(BUILD)/bench/explore.o $(addprefix $(BUILD)/,$(SC_OBJS)) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/scale: $(BUILD)/bench/scale.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/install-deps

# ovmf: Debian's OVMF.fd, which test_tdvf measures (it skips that case without it);
# parallel: test_parallel_shards; libxml2-utils: xmllint, which checks map's SVG
# then the calibration: every published figure predicted by the built-in
# cost table within 25% (scripts/calibrate --check, docs/calibration.md);
# it needs Debian's OVMF.fd, and runs without sanitizers only (it is the
# numbers it checks, and a sanitized build takes ten times as long)
check: deps
	@scripts/install-deps ovmf parallel libxml2-utils python3 || echo "check: ovmf, parallel, libxml2-utils or python3 not installed; the tests that need them skip or fall back"
	@$(MAKE) --no-print-directory $(LIB) $(BIN) $(addprefix $(BUILD)/tests/,$(TESTS))
	@scripts/run-tests $(BUILD) $(TESTS)
	@if [ "$(SAN)" = 1 ]; then echo "check: the calibration is checked without sanitizers (make check)"; \
	else scripts/calibrate --check --tdxsim $(BIN); fi

# the headline: seed 001's rare case (touch before ACCEPT, #VE accepts at
# 4K) under every private-mapping design, the same seeds for each; then the
# MRTD of Debian's OVMF.fd loaded as QEMU loads it.  (`tdxsim demo` is the
# older guided tour of the module's ABI.)  Until the host's huge pages land,
# the designs it does not implement yet behave as far as today's host goes.
DEMO_SCENARIO := scenarios/seed001-rare-case.ini
DEMO_LEVELS := 4k,huge-rfc1,huge-v5,huge-nbr,explicit-demotion
demo: deps
	@scripts/install-deps ovmf || echo "demo: ovmf not installed; no firmware to measure"
	@$(MAKE) --no-print-directory $(BIN)
	@echo "Seed 001's rare case: a TD that takes #VE touches a 2M range before accepting it,"
	@echo "and its #VE handler accepts at 4K.  The touch carries no level info, so a host"
	@echo "that may map 2M does, and the 4K ACCEPT then needs that leaf split:"
	@echo "  4k                 mainline: maps 4K, nothing to split (ok)"
	@echo "  huge-rfc1          RFC v1 ignores a split in the fault path: the same EPT"
	@echo "                     violation forever (livelock)"
	@echo "  huge-v5            latest posting: splits under the exclusive mmu_lock, then"
	@echo "                     inhibits 2M there (ok)"
	@echo "  huge-nbr           with the module's proposed non-blocking resize (ok)"
	@echo "  explicit-demotion  seed 000: 2M without level info only for a TD with the"
	@echo "                     attribute; this TD has none, so 4K (ok)"
	@echo "(Expected outcomes in parentheses; the table shows what this tree's host does.)"
	@echo "Columns: 2M maps, and splits by path (exclusive/shared/ignored/refused)."
	@echo
	@echo '$$ tdxsim compare $(DEMO_SCENARIO) --vary level=$(DEMO_LEVELS) --runs 20'
	@$(BIN) compare $(DEMO_SCENARIO) --vary level=$(DEMO_LEVELS) --runs 20
	@echo
	@echo '$$ tdxsim measure /usr/share/ovmf/OVMF.fd'
	@if [ -r /usr/share/ovmf/OVMF.fd ]; then $(BIN) measure /usr/share/ovmf/OVMF.fd; \
	 else echo "(no /usr/share/ovmf/OVMF.fd: apt-get install ovmf)"; fi

# valgrind (callgrind) counts fault_4k_instructions_per_page; without it that figure is null
bench: deps
	@scripts/install-deps valgrind || echo "bench: valgrind not installed; fault_4k_instructions_per_page will be null"
	@$(MAKE) --no-print-directory $(BUILD)/bench/bench
	@mkdir -p bench/results
	@$(BUILD)/bench/bench bench/results/latest.json

# a TD of SIZE (default 1 TiB) accepting all its memory, at 4K and at 2M, each
# configuration in its own process (bench/scale.c); minutes and ~10 GiB of RAM
# at 1 TiB, so never part of check or CI.  SIZE=64G for a quick run.
SIZE ?= 1T
bench-scale:
	@$(MAKE) --no-print-directory $(BUILD)/bench/scale
	@mkdir -p bench/results
	@$(BUILD)/bench/scale --size $(SIZE) bench/results/scale.json

# ---- libFuzzer harnesses (tests/fuzz/, docs/fuzzing.md) ----
# Built with clang's -fsanitize=fuzzer plus ASan and UBSan, against the
# library and scenario sources compiled with the same flags in build/fuzz,
# so the normal builds are untouched.  `make fuzz [FUZZ_TIME=S]` runs each
# harness for S seconds (default 60) on a copy of its seed corpus
# (tests/fuzz/corpus/<harness>/; new inputs never go into the tree) and
# fails on any finding; `make fuzz-build` only builds.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
FUZZ_BUILD := build/fuzz
FUZZERS   := seamcall kvm scenario tdvf
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -O1 -g $(WARN) \
	       $(FUZZ_SAN) -DTDXSIM_VERSION='"$(VERSION)"' -MMD -MP
FUZZ_LIB  := $(FUZZ_BUILD)/libtdxsim-fuzz.a
FUZZ_BINS := $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZERS))

.PHONY: fuzz fuzz-build
$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC FUZZ $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# the checks run after every call: sanitized, but no coverage feedback from their loops
$(FUZZ_BUILD)/tests/fuzz/fuzz_common.o: tests/fuzz/fuzz_common.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC FUZZ $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/src/cli/cmd_scenario.o: FUZZ_CFLAGS += -DTDXSIM_DATADIR='"$(DATADIR)"'
$(FUZZ_BUILD)/gen/costs_builtin.o: $(FUZZ_BUILD)/gen/costs_builtin.c
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# the library and the scenario code in one archive: each harness links what it uses
$(FUZZ_LIB): $(addprefix $(FUZZ_BUILD)/,$(OBJS) $(SC_OBJS))
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/tests/fuzz/fuzz_common.o $(FUZZ_LIB)
	@$(if $(Q),echo "  LD FUZZ $@")
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# clang and the runtime that -fsanitize=fuzzer links (libclang_rt.fuzzer)
fuzz-build: deps
	@scripts/install-deps clang libclang-rt-dev
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	@scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZERS)

# ---- the installed library: `make install PREFIX=... [DESTDIR=...]` ----
# install puts the tdxsim binary, libtdxsim.a, libtdxsim.so (SONAME
# libtdxsim.so.0), the public headers, tdxsim.pc and the man page under
# PREFIX; `make uninstall` removes them again.  The installed libraries are
# built from their own objects, compiled with -fPIC in $(BUILD)-pic
# (build/rel-pic), so the static library and the tests above stay as they
# are.
#
# LTO: a gcc LTO object, slim or fat, carries GIMPLE that gcc's linker
# plugin uses even in a link without -flto, and another gcc version refuses
# it ("bytecode stream ... generated with LTO version 12.0 instead of the
# expected 11.3"); clang cannot link slim ones at all.  So under LTO=1 the
# PIC objects are fat: libtdxsim.so is an LTO link of them, and the
# installed libtdxsim.a is them with the LTO sections removed (what Debian
# does to static libraries), plain code that any compiler links.
# -fno-semantic-interposition lets calls inside libtdxsim.so be inlined;
# without it LTO gains nothing there.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/tdxsim
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL ?= install

PIC_BUILD := $(BUILD)-pic
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libtdxsim.so.$(SOMAJOR)
SOLIB   := $(PIC_BUILD)/libtdxsim.so.$(VERSION)
ILIB    := $(PIC_BUILD)/libtdxsim.a

# the public headers: what a guest program or a custom VMM includes and
# what those include in turn, installed as include/tdxsim/<dir>/<file> so
# that their relative includes keep working
HEADERS += src/engine/engine.h
HEADERS += src/engine/seam.h
HEADERS += src/guest/guest.h
HEADERS += src/guest/linux.h
HEADERS += src/host/hostmem.h
HEADERS += src/host/kvm.h
HEADERS += src/host/kvm_dpamt.h
HEADERS += src/module/tdx_abi.h
HEADERS += src/module/tdx_module.h

.PHONY: shared install uninstall
shared: $(ILIB) $(SOLIB)

PICFLAGS := -fPIC -fno-semantic-interposition $(if $(LTOFLAGS),-ffat-lto-objects)
# what the library itself needs (tdxsim.pc's Libs.private), not the command's
SOLIBS  := -lcrypto -linih
OBJCOPY ?= objcopy

$(PIC_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC PIC  $<")
	$(Q)$(CC) $(CFLAGS) $(PICFLAGS) -c $< -o $@

$(ILIB): $(addprefix $(PIC_BUILD)/,$(OBJS))
	@rm -f $@ $@.lto
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(AR) rcs $@.lto $^
	$(Q)$(OBJCOPY) -R '.gnu.lto_*' -R '.gnu.debuglto_*' -N __gnu_lto_v1 $@.lto $@
	@rm -f $@.lto

$(SOLIB): $(addprefix $(PIC_BUILD)/,$(OBJS))
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(PICFLAGS) $(LDFLAGS) -Wl,-soname,$(SONAME) -Wl,-z,defs -o $@ $^ $(SOLIBS)

ifeq ($(SAN) $(filter install,$(MAKECMDGOALS)),1 install)
$(error install: a SAN=1 build is for tests only; install a release build)
endif
install: $(BIN) $(ILIB) $(SOLIB)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(addprefix $(DESTDIR)$(INCLUDEDIR)/tdxsim/,$(sort $(dir $(HEADERS:src/%=%))))
	$(INSTALL) -m 755 $(BIN) $(DESTDIR)$(BINDIR)/tdxsim
	$(INSTALL) -m 644 $(ILIB) $(DESTDIR)$(LIBDIR)/libtdxsim.a
	$(INSTALL) -m 755 $(SOLIB) $(DESTDIR)$(LIBDIR)/libtdxsim.so.$(VERSION)
	ln -sf libtdxsim.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtdxsim.so
	for h in $(HEADERS:src/%=%); do \
		$(INSTALL) -m 644 src/$$h $(DESTDIR)$(INCLUDEDIR)/tdxsim/$$h || exit 1; \
	done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
	    -e 's|@VERSION@|$(VERSION)|' tdxsim.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/tdxsim.pc
	$(INSTALL) -m 644 docs/tdxsim.1 $(DESTDIR)$(MANDIR)/man1/tdxsim.1
	$(INSTALL) -d $(DESTDIR)$(DATADIR)/scenarios
	$(INSTALL) -m 644 scenarios/*.ini $(DESTDIR)$(DATADIR)/scenarios

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tdxsim $(DESTDIR)$(LIBDIR)/libtdxsim.a \
	      $(DESTDIR)$(LIBDIR)/libtdxsim.so $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libtdxsim.so.$(VERSION) $(DESTDIR)$(PKGCONFIGDIR)/tdxsim.pc \
	      $(DESTDIR)$(MANDIR)/man1/tdxsim.1 $(addprefix $(DESTDIR)$(INCLUDEDIR)/tdxsim/,$(HEADERS:src/%=%)) \
	      $(addprefix $(DESTDIR)$(DATADIR)/,$(wildcard scenarios/*.ini))
	rmdir $(DESTDIR)$(DATADIR)/scenarios $(DESTDIR)$(DATADIR) 2>/dev/null || true
	rmdir $(addprefix $(DESTDIR)$(INCLUDEDIR)/tdxsim/,$(sort $(dir $(HEADERS:src/%=%)))) \
	      $(DESTDIR)$(INCLUDEDIR)/tdxsim 2>/dev/null || true

clean:
	rm -rf build tdxsim

-include $(shell find build -name '*.d' 2>/dev/null)
