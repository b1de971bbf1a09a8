#ifndef LATCH_C_FUZZER_DRIVER_H
#define LATCH_C_FUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's documented entry for programs that keep their own `main` (libFuzzer 11 and later).
/// SwiftPM links every Linux executable with `--defsym main=<Module>_main`, so libFuzzer's own `main`
/// can never be the entry point; each fuzz target's `<Module>_main` calls this instead.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
