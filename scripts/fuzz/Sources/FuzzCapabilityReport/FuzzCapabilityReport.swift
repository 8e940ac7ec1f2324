// libFuzzer entry for the scheduler's intake of `POST /v3/scheduler/capabilities` bodies: the strict
// JSON parser, the writer, and the capability-report validation behind them.
//
// Checks beyond "never crashes": a parsed document written back out parses to the same value, and
// writing that again gives the same bytes (the writer is canonical); a body that validates as reports
// validates to the same reports after a round trip through the writer.
import JSON

func fail(_ message: String) -> Never {
    fatalError("invariant violated: \(message)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCapabilityReport(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let document = try? JSONParser.parse(bytes) else {
        if (try? CapabilityReportParser.parse(bytes)) != nil { fail("reports from a body that is not JSON") }
        return 0
    }
    let written = JSONWriter.encode(document)
    let reparsed: JSONValue
    do {
        reparsed = try JSONParser.parse(written)
    } catch {
        fail("the writer's output does not parse: \(error)\n  \(String(decoding: written, as: UTF8.self))")
    }
    guard reparsed == document else { fail("a round trip through the writer changed the document") }
    guard JSONWriter.encode(reparsed) == written else { fail("the writer is not canonical") }

    let batch = try? CapabilityReportParser.parse(bytes, maxReports: 64)
    let rebatch = try? CapabilityReportParser.parse(written, maxReports: 64)
    guard batch?.valid == rebatch?.valid, batch?.refused.map(\.index) == rebatch?.refused.map(\.index) else {
        fail("reports differ after a round trip through the writer")
    }
    for report in batch?.valid ?? [] where report.host.isEmpty || !report.host.contains("@") {
        fail("a report for host \(report.host.debugDescription) was accepted")
    }
    return 0
}
