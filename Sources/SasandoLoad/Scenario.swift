import Foundation
import SasandoCore
import SasandoSwitch

/// A load-test scenario (`loadtest/scenarios/*.json`). Every field but `name` has a default, and
/// command-line options override the file.
public struct Scenario: Codable, Sendable, Equatable {
    public struct Mix: Codable, Sendable, Equatable {
        public var inquiry: Double
        public var payment: Double
        public var reversal: Double
        public init(inquiry: Double, payment: Double, reversal: Double) {
            self.inquiry = inquiry
            self.payment = payment
            self.reversal = reversal
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case inquiry, payment, reversal }

        public init(from decoder: any Decoder) throws {
            try Scenario.refuseUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue), what: "mix")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            inquiry = try c.decode(Double.self, forKey: .inquiry)
            payment = try c.decode(Double.self, forKey: .payment)
            reversal = try c.decode(Double.self, forKey: .reversal)
        }
    }

    public enum Mode: String, Codable, Sendable { case closed, open }

    public var name: String
    public var description: String = ""
    public var terminals: Int = 8
    /// The load phase lasts this long (after the ramp-up)...
    public var durationSeconds: Int? = 10
    /// ...or after this many requests, whichever comes first.
    public var requests: Int?
    public var mode: Mode = .closed
    /// Closed loop: requests each connection keeps in flight (spec allows up to 32).
    public var inFlightPerConnection: Int = 4
    /// Open loop: requests per second in total, sent on schedule whatever the answers do.
    public var targetRatePerSecond: Int?
    public var mix: Mix = Mix(inquiry: 0.3, payment: 0.6, reversal: 0.1)
    /// Products to use; nil: all six.
    public var products: [String]?
    /// Ramp-up: connections open and sign on spread over this many seconds; the load phase starts
    /// once every terminal has signed on, and rates are measured over the load phase only.
    public var rampUpSeconds: Int = 0
    public var seed: UInt64 = 1

    public init(name: String) { self.name = name }

    // Limits: a load test is bounded in count and time.
    public static let terminalsMax = 10_000
    public static let durationSecondsMax = 3_600
    public static let rampUpSecondsMax = 600
    public static let requestsMax = 50_000_000
    public static let ratePerSecondMax = 200_000
    /// How far the mix's shares may add up from 1 (decimal fractions such as 0.3 + 0.6 + 0.1).
    public static let mixSumTolerance = 1e-6
    static var productNames: String { Product.allCases.map(\.rawValue).joined(separator: ", ") }

    static func isFileName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && !name.hasPrefix(".") && name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
    }

    public func validate() throws {
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw ScenarioError(description: "scenario \(name): \(message)") }
        }
        try require((1...Self.terminalsMax).contains(terminals), "terminals must be 1...\(Self.terminalsMax)")
        try require(durationSeconds != nil || requests != nil, "give durationSeconds or requests (a run must end)")
        if let d = durationSeconds { try require((1...Self.durationSecondsMax).contains(d), "durationSeconds must be 1...\(Self.durationSecondsMax)") }
        if let r = requests { try require((1...Self.requestsMax).contains(r), "requests must be 1...\(Self.requestsMax)") }
        try require((1...32).contains(inFlightPerConnection), "inFlightPerConnection must be 1...32 (spec §1)")
        if mode == .open {
            try require((1...Self.ratePerSecondMax).contains(targetRatePerSecond ?? 0), "open loop needs targetRatePerSecond 1...\(Self.ratePerSecondMax)")
        }
        // The file's shares are what runs: a mix of 0.3/0.6/0.3 is refused, not quietly rescaled.
        let shares = [mix.inquiry, mix.payment, mix.reversal]
        try require(shares.allSatisfy { $0.isFinite && $0 >= 0 } && abs(shares.reduce(0, +) - 1) <= Self.mixSumTolerance,
                    "mix shares (inquiry, payment, reversal) must be between 0 and 1 and add up to 1; they add up to \(shares.reduce(0, +))")
        if let products {
            try require(!products.isEmpty, "products must name at least one of \(Self.productNames), or be left out for all of them")
            for name in products {
                try require(Product(rawValue: name) != nil, "unknown product \(name); known: \(Self.productNames)")
            }
        }
        // The name becomes the report's file name (NAME.json, NAME.html in --out).
        try require(Self.isFileName(name), "name must be 1-64 characters of A-Z a-z 0-9 . _ - (not starting with '.'): it names the report files")
        try require((0...Self.rampUpSecondsMax).contains(rampUpSeconds), "rampUpSeconds must be 0...\(Self.rampUpSecondsMax)")
    }

    public static func load(path: String) throws -> Scenario {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ScenarioError(description: "cannot read scenario \(path)")
        }
        do {
            return try JSONDecoder().decode(Scenario.self, from: data)
        } catch let error as ScenarioError {
            throw ScenarioError(description: "scenario \(path): \(error.description)")
        } catch let error as DecodingError {
            throw ScenarioError(description: "scenario \(path): \(explainDecodingError(error))")
        }
    }


    /// A mistyped key ("durationSecond") would otherwise be ignored and its default used: another
    /// test than the one written would run, and its report would look right.
    static func refuseUnknownKeys(in decoder: any Decoder, known: [String], what: String) throws {
        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw ScenarioError(description: "unknown key(s) in \(what): \(unknown.joined(separator: ", ")); known: \(known.joined(separator: ", "))")
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, terminals, durationSeconds, requests, mode, inFlightPerConnection, targetRatePerSecond
        case mix, products, rampUpSeconds, seed
    }

    public init(from decoder: any Decoder) throws {
        try Self.refuseUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue), what: "the scenario")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        terminals = try c.decodeIfPresent(Int.self, forKey: .terminals) ?? 8
        durationSeconds = try c.decodeIfPresent(Int.self, forKey: .durationSeconds)
        requests = try c.decodeIfPresent(Int.self, forKey: .requests)
        if durationSeconds == nil && requests == nil { durationSeconds = 10 }
        mode = try c.decodeIfPresent(Mode.self, forKey: .mode) ?? .closed
        inFlightPerConnection = try c.decodeIfPresent(Int.self, forKey: .inFlightPerConnection) ?? 4
        targetRatePerSecond = try c.decodeIfPresent(Int.self, forKey: .targetRatePerSecond)
        mix = try c.decodeIfPresent(Mix.self, forKey: .mix) ?? Mix(inquiry: 0.3, payment: 0.6, reversal: 0.1)
        products = try c.decodeIfPresent([String].self, forKey: .products)
        rampUpSeconds = try c.decodeIfPresent(Int.self, forKey: .rampUpSeconds) ?? 0
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
    }
}

public struct ScenarioError: Error, CustomStringConvertible {
    public let description: String
}

/// SplitMix64: a small seeded generator so a scenario's choices repeat run to run.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
