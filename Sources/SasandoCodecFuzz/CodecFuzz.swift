// libFuzzer target for the ISO 8583 codec. Not named main.swift: SwiftPM links executables with
// `--defsym main=SasandoCodecFuzz_main`, so under FUZZING that symbol hands control to libFuzzer's
// driver (see scripts/fuzz-codec). Without FUZZING it is a plain tool that replays input files.
import SasandoISO8583

/// A fixed key so MAC verification runs on every input too.
let fuzzKey: [UInt8] = Array(0..<32)

/// The property: decoding never crashes; whatever decodes encodes, and decodes again to the same message.
func fuzzOne(_ bytes: UnsafeBufferPointer<UInt8>) {
    let message: ISOMessage
    do {
        message = try ISO8583Codec.decode(bytes, checkingMandatoryFields: false)
    } catch {
        if error.canAnswerFormatError, error.partial == nil { fatalError("30-able error without a partial message") }
        return
    }
    let encoded: [UInt8]
    do { encoded = try ISO8583Codec.encode(message) } catch { fatalError("decoded message does not encode: \(error)") }
    do {
        let again = try ISO8583Codec.decode(encoded, checkingMandatoryFields: false)
        if again != message { fatalError("round trip changed the message") }
    } catch {
        fatalError("re-encoded message does not decode: \(error)")
    }
    // Upper-case bitmaps and hex are canonical: then the bytes must come back identical.
    if encoded.count == bytes.count, !bytes.contains(where: { $0 >= 0x61 && $0 <= 0x66 }), !encoded.elementsEqual(bytes) {
        fatalError("canonical input re-encoded differently")
    }
    _ = try? ISO8583Codec.decode(bytes)   // mandatory-field path
    _ = ISOMAC.verify(body: bytes, message: message, key: fuzzKey)
    _ = message.redactedDescription
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("SasandoCodecFuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        fuzzOne(UnsafeBufferPointer(start: data, count: size))
        return 0
    }
}
#else
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Replays files (e.g. a crash reproducer) through the fuzz property without libFuzzer.
@main
enum CodecFuzzReplay {
    /// Inputs larger than this are not ISO 8583 bodies anyway (framing caps them at 4096 bytes).
    static let inputBytesMax = 1 << 20

    static func main() {
        let paths = CommandLine.arguments.dropFirst()
        guard !paths.isEmpty else {
            print("usage: SasandoCodecFuzz FILE...   (replays inputs; build with scripts/fuzz-codec to fuzz)")
            return
        }
        for path in paths {
            guard let bytes = readFile(path) else {
                print("\(path): cannot read")
                exit(1)
            }
            bytes.withUnsafeBufferPointer { fuzzOne($0) }
            print("\(path): ok (\(bytes.count) bytes)")
        }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: inputBytesMax)
        let count = fread(&bytes, 1, inputBytesMax, file)
        return Array(bytes[0..<count])
    }
}
#endif
