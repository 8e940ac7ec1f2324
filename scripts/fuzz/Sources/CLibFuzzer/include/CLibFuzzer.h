// libFuzzer's driver entry (compiler-rt, LLVM 12 and later), so a Swift executable can start the
// fuzzing loop from its own main: SwiftPM links every executable with its own entry point, which
// keeps libFuzzer's main() out.
#ifndef CLIBFUZZER_H
#define CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
