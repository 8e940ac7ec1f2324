// The engine volumed's server did not choose, for comparison: one Dispatch read source per
// non-blocking connection (TCP_NODELAY), no HTTP parsing at all, a fixed response per "\r\n\r\n".
//   dispatch-bare <body.json> <port>
DispatchBare.main(CommandLine.arguments)
