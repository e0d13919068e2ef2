import Crypto
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public enum MACVerdict: Sendable, Equatable {
    /// No MAC field where spec §7 puts it (64 without a secondary bitmap, 128 with one).
    case missing
    /// A MAC that does not match the body (or is not 16 hex characters).
    case wrong
    case valid
}

/// Spec §7: fields 64/128 hold the first 8 bytes of HMAC-SHA256(key, every body byte before the MAC
/// field) as 16 upper-case hex characters. The key is the terminal's 32-byte MAC key (not enforced here).
public enum ISOMAC {
    /// Bytes of the HMAC-SHA256 output that are kept.
    public static let macByteCount = 8
    /// Hex characters of the MAC field on the wire.
    public static let hexCount = 16
    static let placeholder = String(repeating: "0", count: hexCount)

    /// The MAC over `bytes` as 16 upper-case hex characters.
    public static func compute(key: [UInt8], over bytes: some Collection<UInt8>) -> String {
        var hex: [UInt8] = []
        hex.reserveCapacity(hexCount)
        for byte in macBytes(key: key, over: bytes) {
            hex.append(ASCII.upperHexDigits[Int(byte >> 4)])
            hex.append(ASCII.upperHexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// Verifies the MAC of a received body against `message` (its decoding). The MAC field is whichever
    /// of 64/128 is the message's last field; being fixed-length and last, it is the body's 16-byte tail.
    public static func verify(body: some Collection<UInt8>, message: ISOMessage, key: [UInt8]) -> MACVerdict {
        let field: Int
        if message.fields[ISO8583Spec.macFieldSecondary] != nil {
            field = ISO8583Spec.macFieldSecondary
        } else if message.fields[ISO8583Spec.macFieldPrimary] != nil, !message.fields.keys.contains(where: { $0 > 64 }) {
            field = ISO8583Spec.macFieldPrimary
        } else {
            return .missing
        }
        guard let value = message.fields[field] else { return .missing }
        let claimed = Array(value.utf8)
        let bytes = Array(body)
        guard claimed.count == hexCount, bytes.count >= hexCount else { return .wrong }
        let macStart = bytes.count - hexCount
        // The field value must be the body's tail, else body and message do not belong together.
        guard bytes[macStart...].elementsEqual(claimed) else { return .wrong }
        var received = [UInt8](repeating: 0, count: macByteCount)
        for i in 0..<macByteCount {
            guard let high = ASCII.hexValue(claimed[2 * i]), let low = ASCII.hexValue(claimed[2 * i + 1]) else { return .wrong }
            received[i] = high << 4 | low
        }
        let expected = macBytes(key: key, over: bytes[0..<macStart])
        var difference: UInt8 = 0
        for i in 0..<macByteCount { difference |= expected[i] ^ received[i] }   // constant time
        return difference == 0 ? .valid : .wrong
    }

    /// The first `macByteCount` bytes of HMAC-SHA256(key, bytes).
    static func macBytes(key: [UInt8], over bytes: some Collection<UInt8>) -> [UInt8] {
        var hmac = keyed(key)
        if bytes.withContiguousStorageIfAvailable({ hmac.update(data: UnsafeRawBufferPointer($0)) }) == nil {
            hmac.update(data: Array(bytes))
        }
        return hmac.finalize().withUnsafeBytes { Array($0.prefix(macByteCount)) }
    }

    /// Keyed HMAC states (the key schedule: two SHA-256 blocks and several allocations), computed
    /// once per terminal key instead of twice per message. Bounded: emptied when full. Holds no more
    /// than the terminal records that pass the keys in already hold.
    static let keyedStatesMax = 10_000
    private static let keyedStates = Mutex<[[UInt8]: HMAC<SHA256>]>([:])

    static func keyed(_ key: [UInt8]) -> HMAC<SHA256> {
        if let state = keyedStates.withLock({ $0[key] }) { return state }
        let state = HMAC<SHA256>(key: SymmetricKey(data: key))
        keyedStates.withLock { states in
            if states.count >= keyedStatesMax { states.removeAll(keepingCapacity: true) }
            states[key] = state
        }
        return state
    }
}
