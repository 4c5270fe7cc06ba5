import HybridSyncHTTP
import HybridSyncProtocol

/// The pages hybridsyncd serves (docs/BROWSER.md).
extension WebSite {
    /// The public listener's pages: `/client/hybridsync.js` (and the rest of the package: `react.js`,
    /// the `.d.ts` files, `package.json`) for micro-frontends of any allowed
    /// origin and, with `demoToken`, the demo under `/demo/` whose `/demo/token?user=<id>` mints a
    /// token with `demoToken` (development only: anyone who reaches it can be any user).
    package static func publicListener(
        allowedOrigins: [String], demoToken: (@Sendable (String) -> String)?, compress: Compressor? = nil
    ) -> WebSite {
        var site = WebSite(compress: compress)
        // The package (clients/js): the module, its React bindings, their declarations, package.json.
        for file in ["hybridsync.js", "react.js", "hybridsync.d.ts", "react.d.ts", "package.json"] {
            site.serve(file, at: ["/client/\(file)"],
                       headers: ["Cross-Origin-Resource-Policy": "cross-origin"],
                       crossOrigin: allowedOrigins.isEmpty ? .any : .origins(Set(allowedOrigins)))
        }
        guard let demoToken else { return site }
        // 'self' covers the page's own ws:// and wss:// origin (CSP Level 3).
        let policy = ["Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"]
        site.serve("demo/index.html", at: ["/demo", "/demo/"], headers: policy)
        site.serve("demo/demo.js", at: ["/demo/demo.js"], headers: policy)
        site.serve("demo/demo.css", at: ["/demo/demo.css"], headers: policy)
        site.serve(at: "/demo/token") { request in
            guard let user = request.queryParameters["user"], isDemoUser(user) else {
                return HTTPError.badRequest("give ?user=<1-64 characters of A-Z a-z 0-9 _ ->").response
            }
            return HTTPResponse(status: 200, json: ["user": .string(user), "token": .string(demoToken(user))])
        }
        return site
    }

    /// The API listener's web console under `/console/`: static files only, a strict
    /// Content-Security-Policy (no inline code, no other origin), and the API key typed by the
    /// operator and kept in the page's memory; every action is an API call with that key.
    package static func console(compress: Compressor? = nil) -> WebSite {
        var site = WebSite(compress: compress)
        let headers = [
            "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                + "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        ]
        site.serve("console/index.html", at: ["/console", "/console/"], headers: headers)
        site.serve("console/console.js", at: ["/console/console.js"], headers: headers)
        site.serve("console/console.css", at: ["/console/console.css"], headers: headers)
        return site
    }

    private static func isDemoUser(_ user: String) -> Bool {
        (1...64).contains(user.utf8.count) && user.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "-"): true
            default: false
            }
        }
    }
}
