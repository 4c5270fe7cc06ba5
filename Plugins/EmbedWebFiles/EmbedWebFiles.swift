import Foundation
import PackagePlugin

/// Embeds the browser files of `clients/js` (the module, its React bindings, declarations and
/// package.json, the demo, the console; not its tests)
/// into the target as Swift string literals, so the daemon is one self-contained binary.
@main
struct EmbedWebFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let root = context.package.directoryURL.appending(path: "clients/js")
        let files = try FileManager.default.subpathsOfDirectory(atPath: root.path)
            .filter { !$0.hasPrefix("test/") && [".js", ".html", ".css", ".d.ts", "package.json"].contains(where: $0.hasSuffix) }
            .sorted()
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedWebFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) files of clients/js",
                executable: try context.tool(named: "hybridsync-embed").url,
                arguments: [root.path, output.path] + files,
                inputFiles: files.map { root.appending(path: $0) },
                outputFiles: [output]
            ),
        ]
    }
}
