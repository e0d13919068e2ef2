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
        var end = endIndex
        while end > startIndex, self[index(before: end)] == " " { end = index(before: end) }
        return String(self[startIndex..<end])
    }
}
