import Crypto
import SasandoCore

/// The terminal's 32-byte MAC key (spec §7: HMAC-SHA256 over the message body).
///
/// On disk it is 64 hexadecimal characters followed by a newline (`mac.key`).
public enum MACKey {
    /// Key length in bytes (HMAC-SHA256 key, spec §7).
    public static let byteCount = 32
    /// Length of the hex form.
    public static let hexCount = byteCount * 2

    /// A fresh random key from the system CSPRNG.
    public static func generate() -> [UInt8] {
        // SymmetricKey draws from the platform's cryptographically secure generator.
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// Lower-case hex, 64 characters for a 32-byte key.
    public static func hex(_ key: [UInt8]) -> String {
        lowercaseHex(key)
    }

    /// Parses exactly 64 hex characters (either case). Trailing newlines ("\n" or "\r\n") are
    /// ignored so the content of `mac.key` can be passed as read. Errors never echo the key text.
    public static func parse(hex text: String) throws -> [UInt8] {
        var utf8 = Array(text.utf8)
        while let last = utf8.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") {
            utf8.removeLast()
        }
        guard utf8.count == hexCount else {
            throw PKIError.invalidMACKey(
                reason: "expected exactly \(hexCount) hexadecimal characters, found \(utf8.count) characters")
        }
        var key: [UInt8] = []
        key.reserveCapacity(byteCount)
        var index = 0
        while index < utf8.count {
            guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else {
                let position = hexValue(utf8[index]) == nil ? index : index + 1
                throw PKIError.invalidMACKey(
                    reason: "non-hexadecimal character at position \(position + 1) of \(hexCount)")
            }
            key.append(high << 4 | low)
            index += 2
        }
        return key
    }

    private static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return character - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
