import SharedTestSupport
import Testing

@testable import Coordination

@Suite("etcd gateway JSON", .offCooperativePool)
struct GatewayJSONTests {
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func prefixRangeEndsAfterTheLastByteIncremented() {
        #expect(EtcdKeys.prefix("/a/").bounds.rangeEnd == Array("/a0".utf8))
        #expect(EtcdKeys.key("/a").bounds.rangeEnd == nil)
        #expect(EtcdKeys.prefix("").bounds.key == [0])
        #expect(EtcdKeys.prefix("").bounds.rangeEnd == [0])
    }

    @Test func requestsUseBase64AndIntegersAsStrings() {
        #expect(
            text(GatewayJSON.put(key: "/k", value: [0xFF], lease: 7)) == #"{"key":"L2s=","value":"/w==","lease":"7"}"#)
        #expect(text(GatewayJSON.put(key: "/k", value: [], lease: 0)) == #"{"key":"L2s=","value":""}"#)
        #expect(
            text(GatewayJSON.range(.prefix("/a/"), revision: 9)) == #"{"key":"L2Ev","range_end":"L2Ew","revision":"9"}"#
        )
        #expect(
            text(
                GatewayJSON.transaction(
                    compare: [.absent("/k")], success: [.delete(.key("/k"))], failure: []))
                == #"{"compare":[{"key":"L2s=","result":"EQUAL","target":"VERSION","version":"0"}],"success":[{"request_delete_range":{"key":"L2s="}}],"failure":[]}"#
        )
        #expect(text(GatewayJSON.leaseID(-5)) == #"{"ID":"-5"}"#)
    }

    @Test func answersReadZeroForMissingFieldsAndRejectNonsense() throws {
        let value = try GatewayJSON.parse(Array(#"{"kvs":[{"key":"L2s=","mod_revision":"12"}],"count":"1"}"#.utf8))
        let range = try GatewayJSON.rangeResult(value, revision: 12)
        #expect(range.keyValues == [EtcdKeyValue(key: "/k", value: [], modRevision: 12)])
        #expect(throws: GatewayJSON.Malformed.self) { try GatewayJSON.int64(.string("12x"), "n") }
        #expect(throws: GatewayJSON.Malformed.self) { try GatewayJSON.bytes(.string("***"), "b") }
        #expect(try GatewayJSON.int64(nil, "n") == 0)
    }

    @Test func errorStatusesMapToTheErrorsCallersSwitchOn() throws {
        let call = try GatewayJSON.parse(
            Array(#"{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}"#.utf8))
        let status = try #require(GatewayJSON.errorStatus(call))
        #expect(status.code == 14)
        #expect(EtcdClient.classify(status) == .memberUnavailable(uncertain: false))
        #expect(EtcdClient.classify((14, "etcdserver: request timed out")) == .memberUnavailable(uncertain: true))
        #expect(EtcdClient.classify((5, "etcdserver: requested lease not found")) == .leaseNotFound)
        #expect(EtcdClient.classify((11, "etcdserver: mvcc: required revision has been compacted")) == .compacted)
        #expect(EtcdClient.classify((3, "etcdserver: request is too large")) == .rejected)
    }

    @Test func unreachableEndpointsAreUnavailableNamingEach() throws {
        // Ports nothing listens on (reserved, then closed).
        let endpoints = (0..<2).compactMap { _ in SharedPorts.closed() }
        let etcd = try EtcdClient(configuration: .init(endpoints: endpoints, requestTimeout: 1))
        do {
            try etcd.put("/k", value: [])
            Issue.record("a put without any member succeeded")
        } catch {
            guard case .unavailable(let failures) = error else {
                Issue.record("expected unavailable, got \(error)")
                return
            }
            #expect(failures.map(\.endpoint) == endpoints)
            #expect(failures.allSatisfy { $0.kind == .unreachable })
        }
    }

    @Test func badConfigurationsAreRefused() {
        #expect(throws: EtcdError.badConfiguration("no endpoint")) {
            try EtcdClient(configuration: .init(endpoints: []))
        }
        #expect(throws: EtcdError.self) { try EtcdClient(configuration: .init(endpoints: ["127.0.0.1:2379"])) }
        #expect(throws: EtcdError.self) {
            try EtcdClient(configuration: .init(endpoints: ["https://h:1"], certificateFile: "/c.pem"))
        }
    }
}

enum SharedPorts {
    static func closed() -> String? { Loopback.reservePort().map { "http://127.0.0.1:\($0)" } }
}
