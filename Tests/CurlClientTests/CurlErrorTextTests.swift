import Testing

@testable import CurlClient

@Suite(.offCooperativePool) struct CurlErrorTextTests {
    @Test func theGenericTextIsNotRepeatedWhenTheDetailEndsWithIt() {
        let refused = CurlError(
            code: 7, message: "Couldn't connect to server",
            detail: "Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server")
        #expect(
            refused.description
                == "curl error 7: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server")
    }

    @Test func aDetailOfItsOwnFollowsTheGenericText() {
        let timeout = CurlError(
            code: 28, message: "Timeout was reached",
            detail: "Operation timed out after 1001 milliseconds with 0 bytes received")
        #expect(
            timeout.description
                == "curl error 28: Timeout was reached: Operation timed out after 1001 milliseconds with 0 bytes received"
        )
        #expect(
            CurlError(code: 6, message: "Couldn't resolve host name", detail: "").description
                == "curl error 6: Couldn't resolve host name")
    }
}
