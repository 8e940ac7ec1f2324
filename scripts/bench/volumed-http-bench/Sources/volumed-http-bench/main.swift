// Serves GET /v3/services with a fixed body for scripts/bench-http:
//   volumed-http-bench <body.json> <port> [event-loops]
BenchServer.main(CommandLine.arguments)
