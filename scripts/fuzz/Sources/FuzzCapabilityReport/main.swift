// Hands control to libFuzzer's loop with the command line (-max_total_time, corpus folders, ...).
import CLibFuzzer
#if canImport(Glibc)
import Glibc
#endif

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { data, size in fuzzCapabilityReport(data, size) })
