# tdxsim - a hardware-free simulator of Intel TDX private memory.
# Plain GNU Make: `make` builds libtdxsim.a and the tdxsim binary;
# `make check` builds and runs every test; `make demo`; `make bench`.
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
OBJS += src/module/physmem.o
OBJS += src/module/pamt.o
OBJS += src/module/sept.o
OBJS += src/module/module.o
OBJS += src/module/mrtd.o
OBJS += src/module/seamcall.o
OBJS += src/module/td_exit.o
OBJS += src/module/td_ept_violation.o
OBJS += src/module/tdg_mem_page_accept.o
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
OBJS += src/module/tdh_mem_sept_add.o
OBJS += src/module/tdh_mem_sept_remove.o
OBJS += src/module/tdh_mem_sept_rd.o
OBJS += src/module/tdh_mem_page_add.o
OBJS += src/module/tdh_mem_page_aug.o
OBJS += src/module/tdh_mem_page_remove.o
OBJS += src/module/tdh_mem_range_block.o
OBJS += src/module/tdh_mem_range_unblock.o
OBJS += src/module/tdh_mem_track.o
OBJS += src/module/tdh_mr_extend.o
OBJS += src/module/tdh_mr_finalize.o
OBJS += src/host/bringup.o
OBJS += src/guest/guest.o
OBJS += src/host/simple_host.o
OBJS += src/host/hostmem.o
OBJS += src/host/gmem.o
OBJS += src/host/mmu.o
OBJS += src/host/tdx.o
OBJS += src/host/vm.o

CLI_OBJS := src/cli/main.o src/cli/demo.o
CLI_OBJS += src/cli/measure.o
# the scenario files and the commands that run them (also linked into test_cli)
SC_OBJS += src/cli/tdvf.o
SC_OBJS += src/cli/scenario.o
SC_OBJS += src/cli/sc_run.o
SC_OBJS += src/cli/cmd_scenario.o
CLI_OBJS += $(SC_OBJS)

TESTS := $(patsubst tests/%.c,%,$(filter-out tests/testlib.c,$(wildcard tests/test_*.c)))
BENCHES := bench/bench

LIB := $(BUILD)/libtdxsim.a
BIN := $(BUILD)/tdxsim

.PHONY: all check demo bench deps clean
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
$(BUILD)/tests/test_tdvf: $(BUILD)/tests/test_tdvf.o $(BUILD)/tests/testlib.o $(BUILD)/src/cli/tdvf.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# the scenario tests link the command's scenario code
$(BUILD)/tests/test_cli: $(BUILD)/tests/test_cli.o $(BUILD)/tests/testlib.o $(addprefix $(BUILD)/,$(SC_OBJS)) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/bench/bench: $(BUILD)/bench/bench.o $(BUILD)/bench/kvm_fault.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/install-deps

# ovmf: Debian's OVMF.fd, which test_tdvf measures (it skips that case without it)
check: deps
	@scripts/install-deps ovmf parallel || echo "check: ovmf or parallel not installed; the tests that need them skip"
	@$(MAKE) --no-print-directory $(LIB) $(BIN) $(addprefix $(BUILD)/tests/,$(TESTS))
	@scripts/run-tests $(BUILD) $(TESTS)

demo: deps
	@$(MAKE) --no-print-directory $(BIN)
	@$(BIN) demo

# valgrind (callgrind) counts fault_4k_instructions_per_page; without it that figure is null
bench: deps
	@scripts/install-deps valgrind || echo "bench: valgrind not installed; fault_4k_instructions_per_page will be null"
	@$(MAKE) --no-print-directory $(BUILD)/bench/bench
	@mkdir -p bench/results
	@$(BUILD)/bench/bench bench/results/latest.json

clean:
	rm -rf build tdxsim

-include $(shell find build -name '*.d' 2>/dev/null)
