// Header-only target: LLVMFuzzerRunDriver comes from compiler-rt's libFuzzer at link time.
#include "CLibFuzzer.h"
