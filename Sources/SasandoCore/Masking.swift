/// Customer data never reaches a log whole. Keep the last `visibleSuffixCount` characters so staff can
/// still tell two customers apart; everything else becomes `*`.
public enum Masking {
    public static let visibleSuffixCount = 4

    public static func maskCustomerID(_ id: some StringProtocol) -> String {
        let trimmed = id.trimmingTrailingSpaces()
        guard trimmed.count > visibleSuffixCount else { return String(repeating: "*", count: trimmed.count) }
        return String(repeating: "*", count: trimmed.count - visibleSuffixCount) + trimmed.suffix(visibleSuffixCount)
    }
}

extension StringProtocol {
    /// `an` fields are space-filled on the right; this removes that padding only.
    public func trimmingTrailingSpaces() -> String {
        // On UTF-8 (a space is one byte, so every index found is a character boundary): Character
        // indexing would run grapheme breaking on the hot path. Forward, because a StringProtocol's
        // UTF8View is only a Collection (no lastIndex(where:)).
        let bytes = utf8
        var end = bytes.startIndex
        var i = bytes.startIndex
        while i != bytes.endIndex {
            let next = bytes.index(after: i)
            if bytes[i] != UInt8(ascii: " ") { end = next }
            i = next
        }
        return String(self[..<end])
    }
}
