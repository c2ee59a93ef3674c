# pspfc -- one non-recursive Makefile.
#
#   make            build/bin/pspfc and build/lib/libpspf.a
#   make demo       install dependencies, build, run the demo pipeline
#   make test       install dependencies, run every test (unit, golden,
#                   end-to-end) in one Criterion binary built with
#                   AddressSanitizer and UndefinedBehaviorSanitizer
#   make install    PREFIX=/usr/local DESTDIR= (staged installs)
#   make bench      benchmarks (bench/README.md)
#   make fuzz       run the front-end fuzzer for FUZZ_SECONDS

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share
CC         ?= cc
CFLAGS     ?= -O2 -g
WARN        = -std=c11 -Wall -Wextra -Werror -Wshadow \
              -Wmissing-prototypes -Wstrict-prototypes
DEFS        = -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
BISON      ?= bison
FLEX       ?= flex
FUZZ_SECONDS ?= 60

ifeq ($(V),1)
Q =
else
Q = @
endif

B    = build
SAN  = $(B)/san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined

COMPILER_SRC = compiler/arena.c compiler/source.c compiler/diag.c \
               compiler/ast.c compiler/literals.c compiler/types.c \
               compiler/builtins.c compiler/check.c compiler/emit_c.c \
               compiler/graph.c compiler/explain.c compiler/fmt.c \
               compiler/driver.c
GEN_SRC      = $(B)/gen/parse.c $(B)/gen/lex.c
RUNTIME_SRC  = $(wildcard runtime/src/*.c) $(wildcard stdlib/*.c)
# Public headers, staged in build/include/pspf as they are installed, so
# that pspfc finds them the same way in the tree and after install.
RUNTIME_HDR  = $(wildcard runtime/include/pspf/*.h)
STAGED_HDR   = $(patsubst runtime/include/pspf/%,$(B)/include/pspf/%,$(RUNTIME_HDR)) \
               $(B)/include/pspf/std.h
TEST_SRC     = $(wildcard tests/unit/*.c)

INC = -Icompiler -I$(B)/gen -Iruntime/include -Istdlib

obj = $(patsubst %.c,$(1)/obj/%.o,$(notdir $(2)))

# The compiler shares the runtime's exact scalar formatting (format.c) and
# its reading of checkpoint files (checkpoint.c, for inspect-checkpoint).
SHARED_SRC       = runtime/src/format.c runtime/src/checkpoint.c \
                   runtime/src/buf.c
COMPILER_OBJ     = $(call obj,$(B),$(COMPILER_SRC) $(GEN_SRC) $(SHARED_SRC))
COMPILER_OBJ_SAN = $(call obj,$(SAN),$(COMPILER_SRC) $(GEN_SRC) $(SHARED_SRC))
RUNTIME_OBJ      = $(call obj,$(B),$(RUNTIME_SRC))
RUNTIME_OBJ_SAN  = $(call obj,$(SAN),$(RUNTIME_SRC))
TEST_OBJ_SAN     = $(call obj,$(SAN),$(TEST_SRC))

all: $(B)/bin/pspfc $(B)/lib/libpspf.a $(B)/pspf.pc $(STAGED_HDR)

$(B)/include/pspf/%.h: runtime/include/pspf/%.h
	@mkdir -p $(@D)
	$(Q)cp $< $@

$(B)/include/pspf/std.h: stdlib/pspf_std.h
	@mkdir -p $(@D)
	$(Q)sed 's|"pspf/rt.h"|<pspf/rt.h>|' $< > $@

# ---- generated parser and lexer -------------------------------------------

$(B)/gen/parse.c $(B)/gen/parse.h: grammar/pspf.y
	@mkdir -p $(B)/gen
	$(Q)$(BISON) -Wall -Werror --header=$(B)/gen/parse.h -o $(B)/gen/parse.c $<

$(B)/gen/lex.c: grammar/pspf.l $(B)/gen/parse.h
	@mkdir -p $(B)/gen
	$(Q)$(FLEX) -o $@ $<

# flex's skeleton trips a few of our warnings; everything else is clean.
GEN_CFLAGS = -Wno-unused-function -Wno-sign-compare -Wno-missing-prototypes \
             -Wno-unused-parameter

# ---- objects: plain and sanitized builds ----------------------------------

define compile_rules
$(1)/obj/%.o: compiler/%.c compiler/pspfc.h $(B)/gen/parse.h
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS) $(2) $$(WARN) $$(DEFS) $$(INC) -MMD -c -o $$@ $$<
$(1)/obj/%.o: $(B)/gen/%.c compiler/pspfc.h
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS) $(2) $$(WARN) $$(GEN_CFLAGS) $$(DEFS) $$(INC) -MMD -c -o $$@ $$<
$(1)/obj/%.o: runtime/src/%.c $$(RUNTIME_HDR)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS) $(2) $$(WARN) $$(DEFS) $$(INC) -Iruntime/src -fvisibility=hidden -MMD -c -o $$@ $$<
$(1)/obj/%.o: stdlib/%.c stdlib/pspf_std.h $$(RUNTIME_HDR)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS) $(2) $$(WARN) $$(DEFS) $$(INC) -fvisibility=hidden -MMD -c -o $$@ $$<
$(1)/obj/%.o: tests/unit/%.c compiler/pspfc.h $(B)/gen/parse.h
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS) $(2) $$(WARN) $$(DEFS) $$(INC) -MMD -c -o $$@ $$<
endef

$(eval $(call compile_rules,$(B),))
$(eval $(call compile_rules,$(SAN),$(SANFLAGS)))

-include $(wildcard $(B)/obj/*.d $(SAN)/obj/*.d)

$(B)/bin/pspfc: $(COMPILER_OBJ) $(B)/obj/main.o
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lm

$(SAN)/bin/pspfc: $(COMPILER_OBJ_SAN) $(SAN)/obj/main.o
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ -lm

$(B)/lib/libpspf.a: $(RUNTIME_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/pspf.pc: runtime/pspf.pc.in
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

VERSION = $(shell sed -n 's/^\#define PSPFC_VERSION "\(.*\)"/\1/p' compiler/pspfc.h)

# ---- set-up, demo, tests ---------------------------------------------------

deps:
	$(Q)sh scripts/deps.sh

demo:
	$(Q)sh scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh scripts/demo.sh

$(SAN)/bin/pspfc-tests: $(TEST_OBJ_SAN) $(COMPILER_OBJ_SAN) $(filter-out $(SAN)/obj/format.o $(SAN)/obj/checkpoint.o $(SAN)/obj/buf.o,$(RUNTIME_OBJ_SAN))
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $$(pkg-config --libs criterion libuv sqlite3 libmosquitto rdkafka) -lm

# librdkafka's mock cluster in a process of its own, for the Kafka tests.
$(B)/bin/pspf-kafka-mock: tests/kafka/mock.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(DEFS) -o $@ $< $$(pkg-config --libs rdkafka)

test check:
	$(Q)sh scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory all $(SAN)/bin/pspfc $(SAN)/bin/pspfc-tests $(B)/bin/pspf-kafka-mock
	$(Q)sh tests/run.sh

golden-update: all
	$(Q)sh tests/golden-update.sh

bench: all
	$(Q)sh bench/run.sh

# ---- fuzzing (clang, libFuzzer) --------------------------------------------

FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined $(DEFS) $(INC) -std=c11
$(B)/fuzz/fuzz_check: tests/fuzz/fuzz_check.c $(COMPILER_SRC) $(GEN_SRC) runtime/src/format.c
	@mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_check.c $(COMPILER_SRC) $(GEN_SRC) runtime/src/format.c -lm

fuzz: $(B)/fuzz/fuzz_check
	@mkdir -p $(B)/fuzz/corpus
	$(Q)cp examples/*.pspf tests/golden/*/*.pspf $(B)/fuzz/corpus/ 2>/dev/null || true
	$(Q)$(B)/fuzz/fuzz_check -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -timeout=5 -dict=tests/fuzz/pspf.dict $(B)/fuzz/corpus tests/fuzz/corpus

# ---- install ---------------------------------------------------------------

install: all
	install -D -m 755 $(B)/bin/pspfc $(DESTDIR)$(BINDIR)/pspfc
	install -D -m 644 $(B)/lib/libpspf.a $(DESTDIR)$(LIBDIR)/libpspf.a
	install -d $(DESTDIR)$(INCLUDEDIR)/pspf
	install -m 644 $(STAGED_HDR) $(DESTDIR)$(INCLUDEDIR)/pspf/
	install -D -m 644 $(B)/pspf.pc $(DESTDIR)$(LIBDIR)/pkgconfig/pspf.pc
	install -D -m 644 docs/pspfc.1 $(DESTDIR)$(MANDIR)/man1/pspfc.1
	install -D -m 644 docs/pspf-program.1 $(DESTDIR)$(MANDIR)/man1/pspf-program.1
	install -D -m 644 editors/bash-completion/pspfc $(DESTDIR)$(DATADIR)/bash-completion/completions/pspfc
	install -D -m 644 editors/vim/syntax/pspf.vim $(DESTDIR)$(DATADIR)/vim/vimfiles/syntax/pspf.vim
	install -D -m 644 editors/vim/ftdetect/pspf.vim $(DESTDIR)$(DATADIR)/vim/vimfiles/ftdetect/pspf.vim

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pspfc $(DESTDIR)$(LIBDIR)/libpspf.a
	rm -rf $(DESTDIR)$(INCLUDEDIR)/pspf
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/pspf.pc $(DESTDIR)$(MANDIR)/man1/pspfc.1
	rm -f $(DESTDIR)$(MANDIR)/man1/pspf-program.1
	rm -f $(DESTDIR)$(DATADIR)/bash-completion/completions/pspfc
	rm -f $(DESTDIR)$(DATADIR)/vim/vimfiles/syntax/pspf.vim $(DESTDIR)$(DATADIR)/vim/vimfiles/ftdetect/pspf.vim

clean:
	rm -rf $(B)

.PHONY: all deps demo test check golden-update bench fuzz install uninstall clean
.DELETE_ON_ERROR:
