import HybridSyncHTTP
import Testing

@Suite("HTTP request head: decoded path and query")
struct HTTPRequestTests {
    @Test("query parameters are percent-decoded, '+' is a space, the first of a repeated name counts, malformed ones are left out")
    func queryParameters() {
        let head = HTTPRequest(method: "GET", path: "/demo/token", query: "user=a%20b&x=1+2&user=second&bad=%zz&flag&%E2%82%AC=euro")
        #expect(head.queryParameters == ["user": "a b", "x": "1 2", "flag": "", "€": "euro"])
        #expect(HTTPRequest(method: "GET", path: "/", query: "").queryParameters.isEmpty)
        #expect(HTTPRequest(method: "GET", path: "/", query: "v=%FF").queryParameters.isEmpty, "not UTF-8")
    }

    @Test("the path's escapes decode; a malformed escape gives nil")
    func decodedPath() {
        #expect(HTTPRequest(method: "GET", path: "/api/channels/user%23a").decodedPath == "/api/channels/user#a")
        #expect(HTTPRequest(method: "GET", path: "/x%2").decodedPath == nil)
    }
}
