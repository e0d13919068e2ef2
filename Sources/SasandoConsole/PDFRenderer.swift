import Foundation

/// Prints HTML to PDF with headless Chromium (Debian package `chromium`): the PDF is the page the
/// staff see, not a second hand-written layout. Bounded by `pdfRenderSecondsMax` and `pdfBytesMax`.
struct PDFRenderer: Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    let chromiumPath: String?
    let limits: ConsoleLimits
    static let candidates = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]

    /// `SASANDO_CHROMIUM`, the configured path, or the first candidate on PATH.
    static func findChromium(configured: String?) -> String? {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["SASANDO_CHROMIUM"], fm.isExecutableFile(atPath: env) { return env }
        if let configured, fm.isExecutableFile(atPath: configured) { return configured }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for name in candidates {
            for dir in path.split(separator: ":") {
                let full = "\(dir)/\(name)"
                if fm.isExecutableFile(atPath: full) { return full }
            }
        }
        return nil
    }

    func render(html: String) async throws -> [UInt8] {
        guard let chromium = Self.findChromium(configured: chromiumPath) else {
            throw Failure(description: "PDF download needs headless Chromium, which is not installed on this server "
                          + "(Debian: apt-get install chromium; or set SASANDO_CHROMIUM). The CSV download works without it.")
        }
        let fm = FileManager.default
        let folder = fm.temporaryDirectory.appendingPathComponent("sasando-pdf-\(UUID().uuidString)")
        try fm.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? fm.removeItem(at: folder) }
        let input = folder.appendingPathComponent("report.html"), output = folder.appendingPathComponent("report.pdf")
        try Data(html.utf8).write(to: input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        var arguments = ["--headless", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                         "--user-data-dir=\(folder.appendingPathComponent("profile").path)",
                         "--no-pdf-header-footer", "--print-to-pdf-no-header", "--print-to-pdf=\(output.path)", input.absoluteString]
        // Chromium refuses to run as root with its sandbox; the input is our own HTML file.
        if geteuid() == 0 { arguments.insert("--no-sandbox", at: 0) }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(limits.pdfRenderSecondsMax)
        while process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            process.terminate()
            throw Failure(description: "Chromium did not print the PDF within \(limits.pdfRenderSecondsMax) s.")
        }
        guard let attributes = try? fm.attributesOfItem(atPath: output.path), let size = attributes[.size] as? Int,
              size > 0, size <= limits.pdfBytesMax, let data = fm.contents(atPath: output.path) else {
            throw Failure(description: "Chromium did not produce a PDF (exit status \(process.terminationStatus)).")
        }
        return Array(data)
    }
}
