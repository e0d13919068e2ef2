// Codec throughput: decode + encode of a typical 0200 payment (field 48 of 96 characters, MAC in 64).
// Usage: SasandoCodecBench [ITERATIONS] [--seconds S] [--hex]
//   --hex prints the message body in hex and exits (scripts/bench-codec feeds it to pyiso8583).
//   Without ITERATIONS each measurement runs for S seconds (default 3).
import SasandoISO8583

@main
enum CodecBench {
    static let key: [UInt8] = Array(0..<32)
    static let billData =
        "PLNPOST " + "123456789012        " + "BUDI SANTOSO                  " + "02"
        + "202509" + "000012550000" + "202510" + "000013275000"
    static let payment = ISOMessage(mti: "0200", fields: [
        3: "180000", 4: "000025825000", 7: "1029083015", 11: "000123", 12: "163015", 13: "1029",
        18: "6021", 28: "D00500000", 32: "129", 37: "251029000123", 41: "TRM00001", 42: "PP0000000000001",
        48: billData, 49: "360",
    ])
    /// Iterations between clock reads in time-bounded runs.
    static let batch = 10_000

    static func main() throws {
        var iterations: Int?
        var seconds = 3.0
        var hexOnly = false
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = arguments.next() {
            switch argument {
            case "--hex": hexOnly = true
            case "--seconds": seconds = arguments.next().flatMap(Double.init) ?? seconds
            default:
                guard let n = Int(argument.replacingUnderscores()), n > 0 else {
                    print("usage: SasandoCodecBench [ITERATIONS] [--seconds S] [--hex]")
                    return
                }
                iterations = n
            }
        }

        let body = try ISO8583Codec.encodeWithMAC(payment, key: key)
        if hexOnly {
            print(body.map { String($0, radix: 16, uppercase: true).leftPadded(2) }.joined())
            return
        }
        print("message: \(body.count) bytes, \(payment.fields.count + 1) fields")

        let decodeOnly = measure(iterations, seconds) { sink in
            let message = try ISO8583Codec.decode(body)
            sink &+= message.fields.count
        }
        print("decode only: \(format(decodeOnly)) msg/s")
        let withMAC = measure(iterations, seconds) { sink in
            let message = try ISO8583Codec.decode(body)
            guard ISOMAC.verify(body: body, message: message, key: key) == .valid else { fatalError("MAC") }
            sink &+= try ISO8583Codec.encodeWithMAC(message, key: key).count
        }
        print("decode + MAC verify + encode with MAC: \(format(withMAC)) msg/s")
        let roundTrip = measure(iterations, seconds) { sink in
            let message = try ISO8583Codec.decode(body)
            sink &+= try ISO8583Codec.encode(message).count
        }
        // Last line: the figure scripts/bench-codec compares with pyiso8583 (decode + encode).
        print("sasando codec: \(format(roundTrip)) msg/s")
    }

    /// Messages per second of `work`; `sink` keeps the optimizer from dropping the work.
    static func measure(_ iterations: Int?, _ seconds: Double, _ work: (inout Int) throws -> Void) -> Double {
        var sink = 0
        let clock = ContinuousClock()
        let start = clock.now
        var done = 0
        do {
            if let iterations {
                for _ in 0..<iterations { try work(&sink) }
                done = iterations
            } else {
                let limit = Duration.milliseconds(Int(seconds * 1000))
                while clock.now - start < limit {
                    for _ in 0..<batch { try work(&sink) }
                    done += batch
                }
            }
        } catch {
            fatalError("benchmark message failed: \(error)")
        }
        let elapsed = clock.now - start
        let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        if sink == 42 { print("") }   // never true in practice; makes `sink` observable
        return Double(done) / secondsElapsed
    }

    static func format(_ rate: Double) -> String { String(Int(rate.rounded())) }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
